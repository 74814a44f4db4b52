"""Who is acting: the identity every use case receives, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass

from storage.models import Channel, Role, User


@dataclass(frozen=True)
class Actor:
    role: Role | None
    channel: Channel
    label: str
    user_id: int | None = None
    company_id: int | None = None
    donneur_id: int | None = None
    prescriber_id: int | None = None
    email: str | None = None

    @classmethod
    def from_user(cls, user: User, channel: Channel) -> Actor:
        return cls(
            role=user.role,
            channel=channel,
            label=user.display_name,
            user_id=user.id,
            company_id=user.company_id,
            donneur_id=user.donneur_id,
            prescriber_id=user.prescriber_id,
            email=user.email,
        )

    @classmethod
    def system(cls, channel: Channel | None = None, label: str = "système") -> Actor:
        """The service itself (scheduler jobs, intake); allowed what the wiring asks of it.
        Its actions are recorded under ``Channel.SYSTEM`` (not a person's channel) unless the
        caller names one."""
        return cls(role=Role.ADMIN, channel=channel or Channel.SYSTEM, label=label)

    @classmethod
    def from_email(
        cls,
        email: str,
        *,
        role: Role | None,
        company_id: int | None = None,
        donneur_id: int | None = None,
        prescriber_id: int | None = None,
    ) -> Actor:
        """A sender known by a contact address (no chat account needed)."""
        return cls(
            role=role,
            channel=Channel.EMAIL,
            label=email,
            company_id=company_id,
            donneur_id=donneur_id,
            prescriber_id=prescriber_id,
            email=email,
        )

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.FACILITATEUR)
