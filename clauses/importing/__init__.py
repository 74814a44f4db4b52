"""Import of a territory from one CSV file: donneurs, markets, lots, companies, engagements.

Why one flat file: facilitators keep their tracking grid in a spreadsheet; one line per
engagement (donneur, market, lot, company) is what they already have, and "Enregistrer sous >
CSV UTF-8" is the only export every office suite does the same way. The columns are listed in
:data:`COLUMNS` and documented for users in ``examples/README.md``.

Rules (the user documentation repeats them):

* **All or nothing.** Every line is validated first and *every* bad line is reported with its
  number and the reason; if any line is bad nothing is written. ``dry_run`` validates and counts
  what would change, then rolls back.
* **Idempotent.** Rows are matched by natural keys (donneur name, market reference, market + lot
  number, SIRET, lot + company, company + contact e-mail) and updated in place, so importing the
  same file twice changes nothing the second time.
* **An empty cell never changes existing data.** Only a filled cell sets or updates a value.
  Lines about the same market, lot or company may repeat its values or leave them empty, but
  may not contradict an earlier line.
* **Donneurs are created only on purpose**: a line creates a donneur when it fills
  ``type_donneur``; any other donneur named in the file must already be in the database or be
  created by a line of the file. A typo in a donneur's name is therefore reported, not turned
  into a second buyer.
* ``heures_insertion`` left empty is computed by the chiffrage (:mod:`clauses.chiffrage`) when
  the line gives ``montant_lot_ht`` and ``corps_etat``; a new lot of a market that owes hours
  needs one or the other. ``heures_engagement`` left empty means the lot's hours.

The package is pure domain: it takes bytes and a session and returns a result; the CLI prints it.
Its modules follow the import's steps:

* :mod:`~clauses.importing.columns`: the columns users write and their limits;
* :mod:`~clauses.importing.csvfile`: decoding the file, its delimiter and its header;
* :mod:`~clauses.importing.values`: parsing one cell (French numbers, dates, kinds, e-mails);
* :mod:`~clauses.importing.validate`: checking each line and merging the lines of one entity;
* :mod:`~clauses.importing.resolve`: checking the entities against the database;
* :mod:`~clauses.importing.write`: the upserts;
* :mod:`~clauses.importing.pipeline`: :func:`import_csv` and :func:`import_rows`, tying them;
* :mod:`~clauses.importing.results`: what is reported back.

Everything callers use is re-exported here, so ``from clauses.importing import ...`` is the
import to write.
"""

from clauses.importing.columns import COLUMNS, MAX_AMOUNT, MAX_HOURS, template_header
from clauses.importing.csvfile import RESAVE_HINT, CsvTable, read_csv
from clauses.importing.entities import INVALID
from clauses.importing.pipeline import import_csv, import_rows
from clauses.importing.resolve import HOUR_OWING_KINDS
from clauses.importing.results import ENTITY_LABELS, ImportFileError, ImportResult, LineError
from clauses.importing.values import (
    ValueProblem,
    parse_amount,
    parse_company_kind,
    parse_date,
    parse_donneur_kind,
    parse_email,
    parse_hours_value,
    parse_lot_number,
    parse_market_kind,
    parse_means,
    parse_number,
    parse_trade,
)

__all__ = [
    "COLUMNS",
    "ENTITY_LABELS",
    "HOUR_OWING_KINDS",
    "INVALID",
    "MAX_AMOUNT",
    "MAX_HOURS",
    "RESAVE_HINT",
    "CsvTable",
    "ImportFileError",
    "ImportResult",
    "LineError",
    "ValueProblem",
    "import_csv",
    "import_rows",
    "parse_amount",
    "parse_company_kind",
    "parse_date",
    "parse_donneur_kind",
    "parse_email",
    "parse_hours_value",
    "parse_lot_number",
    "parse_market_kind",
    "parse_means",
    "parse_number",
    "parse_trade",
    "read_csv",
    "template_header",
]
