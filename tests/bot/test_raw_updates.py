"""Rules of bot.telegram_adapter.incoming_from_json: the two hot kinds of update (a text
message, a button press) are read from getUpdates' JSON without PTB's objects; anything else
falls back to PTB's path (None). The journeys through the Bot API server, where every text and
button goes this way, are test_telegram_e2e.py and test_concurrent_updates.py."""

from __future__ import annotations

from bot.dispatch import update_key
from bot.telegram_adapter import Pressed, RawUpdate, incoming_from_json

SENDER = {"id": 42, "is_bot": False, "first_name": "Anne"}
PRIVATE = {"id": 42, "type": "private", "first_name": "Anne"}
GROUP = {"id": -1001, "type": "supergroup", "title": "Clauses"}


def _text(text: str, chat: dict = PRIVATE, **extra: object) -> dict:
    return {"message_id": 7, "from": SENDER, "chat": chat, "date": 1765000000, "text": text,
            **extra}


def test_a_text_message_is_read_from_the_json() -> None:
    read = incoming_from_json(5, {"update_id": 5, "message": _text(
        "/declarer", entities=[{"type": "bot_command", "offset": 0, "length": 9}])})
    assert read is not None
    incoming, pressed = read
    assert (incoming.chat_id, incoming.user_id, incoming.update_id, incoming.text,
            incoming.private, incoming.file, pressed) == (42, 42, 5, "/declarer", True, None, None)


def test_a_group_message_is_not_private_and_its_chat_is_the_group() -> None:
    read = incoming_from_json(6, {"update_id": 6, "message": _text("bonjour", GROUP)})
    assert read is not None
    assert (read[0].chat_id, read[0].user_id, read[0].private) == (-1001, 42, False)


def test_a_button_press_carries_its_query_and_the_pressed_message() -> None:
    """The chat id and the message id are the pressed message's, the user the presser's (equal
    ids would hide a swap: the chat here is a group)."""
    payload = {"update_id": 8, "callback_query": {
        "id": "9001", "from": SENDER, "chat_instance": "1", "data": "d:m:2026-11",
        "message": {"message_id": 77, "chat": GROUP, "date": 1765000000, "text": "Quel mois ?",
                    "reply_markup": {"inline_keyboard": [[{"text": "nov.", "callback_data":
                                                           "d:m:2026-11"}]]}}}}
    read = incoming_from_json(8, payload)
    assert read is not None
    incoming, pressed = read
    assert (incoming.chat_id, incoming.user_id, incoming.callback_data, incoming.private) == \
        (-1001, 42, "d:m:2026-11", False)
    assert pressed == Pressed("9001", -1001, 77)
    assert update_key(RawUpdate(8, payload)) == 42  # queued behind the presser's updates


def test_a_press_on_a_message_telegram_no_longer_shows_is_answered_in_private() -> None:
    payload = {"update_id": 9, "callback_query": {"id": "9002", "from": SENDER,
                                                  "chat_instance": "1", "data": "d:skip"}}
    read = incoming_from_json(9, payload)
    assert read is not None
    assert (read[0].chat_id, read[0].private) == (42, True)
    assert read[1] == Pressed("9002", None, None)


def test_files_and_unknown_kinds_go_through_ptb() -> None:
    document = {"file_id": "f1", "file_unique_id": "u1", "file_name": "mai.pdf",
                "mime_type": "application/pdf", "file_size": 10}
    photo = [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]
    assert incoming_from_json(1, {"update_id": 1, "message": {
        "message_id": 1, "from": SENDER, "chat": PRIVATE, "date": 1, "document": document}}) is None
    assert incoming_from_json(2, {"update_id": 2, "message": _text("légende", photo=photo)}) is None
    assert incoming_from_json(3, {"update_id": 3, "edited_message": _text("x")}) is None
    assert incoming_from_json(4, {"update_id": 4, "message": {
        "message_id": 1, "chat": PRIVATE, "date": 1, "text": "sans expéditeur"}}) is None
    assert update_key(RawUpdate(3, {"update_id": 3, "edited_message": _text("x")})) == 0
