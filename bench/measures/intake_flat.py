"""Is the intake's cost per e-mail flat from territory to national size? (issue 20)

``python -m bench.measures.intake_flat [--backend sqlite] [--messages 300] [--rounds 3]``

Why a run of its own: ``python -m bench --size territory,national`` measures the two sizes one
after the other, minutes apart, and on a shared machine the load of the moment moves a figure
more than the size does. Here the two sizes alternate round by round in one process (territory
first, then national first), each with the fetch + commit + MOVE floor of
:mod:`bench.measures.intake_floor` beside it (a transaction a message, and by the product's
batches); the first round is a warm-up and is dropped. It prints, for each size, the intake's
and the floors' ms per e-mail (min / median), and national ÷ territory on the raw medians and
on the floor-normalised ones.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path
from typing import Any

from bench.databases import Backends
from bench.harness import Run
from bench.measures import intake
from bench.measures.intake_floor import floor_intake, prepare_floor
from bench.sizes import size_named
from mail.intake import INGEST_BATCH


def _round(run: Run, dovecot: Any, messages: list[bytes], tag: str) -> tuple[float, float, float]:
    """One size, one round: the intake, the floor and the batched floor (the product's
    batches, :data:`mail.intake.INGEST_BATCH`) on fresh mailboxes and a fresh copy."""
    product_account, floor_account, batched_account = (dovecot.add_user() for _ in range(3))
    clone = run.backends.clone(run.bench_db, f"flat{tag}")
    try:
        for account in (product_account, floor_account, batched_account):
            intake.fill_mailbox(account, messages)
        prepare_floor(clone, floor_account)
        prepare_floor(clone, batched_account)
        gc.collect()
        began = time.perf_counter()
        stats = intake.product_intake(run, clone, product_account)
        product = time.perf_counter() - began
        began = time.perf_counter()
        floor_count = floor_intake(clone, floor_account)
        floor = time.perf_counter() - began
        began = time.perf_counter()
        batched_count = floor_intake(clone, batched_account, batch=INGEST_BATCH)
        batched = time.perf_counter() - began
        if stats.processed != len(messages) or stats.moved != len(messages) \
                or floor_count != len(messages) or batched_count != len(messages):
            raise AssertionError(f"{tag}: processed {stats.processed}, moved {stats.moved}, "
                                 f"floors {floor_count}, {batched_count} of {len(messages)}")
        per = 1000 / len(messages)
        return product * per, floor * per, batched * per
    finally:
        run.backends.drop_clone(clone)
        for account in (product_account, floor_account, batched_account):
            dovecot.remove_user(account.user)


def main() -> None:
    from bench.__main__ import paris_today
    from clauses.rulebook import load_rulebook

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clausebot-bench"))
    args = parser.parse_args()
    rulebook = load_rulebook("default")
    with Backends(args.workdir, seed=20250101, today=paris_today(), rulebook=rulebook,
                  log=print) as backends:
        runs = {name: Run(backends.database(args.backend, size_named(name)), backends, rulebook,
                          args.workdir, repeat=args.rounds)
                for name in ("territory", "national")}
        mailboxes = {name: intake.build_mailbox(intake.territory_facts(run), args.messages,
                                                seed=0) for name, run in runs.items()}
        for name, (_, kinds) in mailboxes.items():
            print(f"{name}: {kinds}", flush=True)
        dovecot = backends.dovecot()
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
        for round_ in range(1 + args.rounds):
            order = ("territory", "national") if round_ % 2 == 0 else ("national", "territory")
            for name in order:
                product, floor, batched = _round(runs[name], dovecot, mailboxes[name][0],
                                                 f"{name[0]}{round_}")
                print(f"round {round_ + 1}{' (warm-up)' if round_ == 0 else ''} {name}: intake "
                      f"{product:.1f} ms/e-mail, floor {floor:.1f}, batched floor {batched:.1f}",
                      flush=True)
                if round_:
                    samples[name].append((product, floor, batched))
        medians = {}
        for name, rounds in samples.items():
            products, floors, batches = ([r[i] for r in rounds] for i in range(3))
            ratios = [p / f for p, f, _ in rounds]
            medians[name] = (statistics.median(products), statistics.median(ratios))
            print(f"{name}: intake min {min(products):.1f} / median {medians[name][0]:.1f} ms, "
                  f"floor min {min(floors):.1f} / median {statistics.median(floors):.1f} ms, "
                  f"batched floor min {min(batches):.1f} / median {statistics.median(batches):.1f} ms, "
                  f"intake ÷ floor median {medians[name][1]:.1f}x, ÷ batched floor "
                  f"{statistics.median(p / b for p, _, b in rounds):.1f}x")
        print(f"national ÷ territory: {medians['national'][0] / medians['territory'][0]:.2f}x raw, "
              f"{medians['national'][1] / medians['territory'][1]:.2f}x floor-normalised")


if __name__ == "__main__":
    main()
