"""The generated documents in docs/ are current with the code they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.docgen.api import api_markdown
from syncd.docgen.models import models_markdown, vendor_directories, written_columns
from syncd.docgen.pms import pms_markdown
from syncd.errors import SchemaError
from syncd.transform.loader import load_enum_maps, load_schemas

REPO = Path(__file__).resolve().parents[2]


def test_models_md_is_current() -> None:
    generated = models_markdown(REPO / "transforms")
    on_disk = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    assert on_disk == generated, "docs/models.md is out of date: run `python scripts/gen_docs.py`"


def test_pms_md_is_current() -> None:
    on_disk = (REPO / "docs" / "pms.md").read_text(encoding="utf-8")
    assert on_disk == pms_markdown(), "docs/pms.md is out of date: run `python scripts/gen_docs.py`"


def test_api_md_is_current() -> None:
    on_disk = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    assert on_disk == api_markdown(), "docs/api.md is out of date: run `python scripts/gen_docs.py`"


def test_pms_md_shows_each_vendors_declarations() -> None:
    page = pms_markdown()
    for heading in ("## Buildium (`buildium`)", "## Rent Manager (`rentmanager`)"):
        assert heading in page
    assert "| leads | yes | yes |" in page  # Buildium creates applicants
    assert "`location_id`" in page


def test_vendors_are_discovered_and_their_columns_shown(tmp_path: Path) -> None:
    acme = tmp_path / "acme"
    acme.mkdir()
    (acme / "units.yaml").write_text("model: units\nid: Id\nfields:\n  pet_policy: Pets\n")
    (tmp_path / "notes").mkdir()  # no schema in it: not a vendor
    assert [p.name for p in vendor_directories(tmp_path)] == ["acme"]
    page = models_markdown(tmp_path)
    assert "| `pet_policy` | text | ACME |" in page
    assert "| `number` | string | — |" in page
    assert "Vendors with a schema for it: none yet." in page  # e.g. floor_plans


def test_a_broken_vendor_schema_fails_the_page(tmp_path: Path) -> None:
    acme = tmp_path / "acme"
    acme.mkdir()
    (acme / "units.yaml").write_text("model: units\nid: Id\nfields:\n  nope: X\n")
    with pytest.raises(SchemaError, match="not declared"):
        models_markdown(tmp_path)


def test_written_columns_cover_pairs_phones_and_links() -> None:
    buildium = REPO / "transforms" / "buildium"
    schemas = load_schemas(buildium, frozenset(load_enum_maps(buildium)))
    leases = written_columns(schemas["leases"].schema)
    assert {"status_raw", "status_normalized", "residents_to_leases.move_in_date"} <= leases
    residents = written_columns(schemas["residents"].schema)
    assert {"phone_1", "phone_1_type", "phone_2", "phone_2_type"} <= residents
