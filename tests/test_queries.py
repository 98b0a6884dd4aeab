"""Name resolution by indexed lookups, revisions in the query API, the schema checked once, and
query plans that use indexes (SQLite's EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from headdb import HeadDB, UnknownNameError
from headdb.catalog.validate import _normalise
from headdb.db.models import lookup_key, short_key
from headdb.queries import names
from headdb.queries.detections import _labels_statement

from synthetic import add_results


@pytest.mark.parametrize("spelling", ["previous-token", "Previous Token Head", "previous token", "PREVIOUS_TOKEN",
                                      "Previous Head", "previous-head"])
def test_head_type_spellings_resolve(catalog_db: HeadDB, spelling: str) -> None:
    assert catalog_db.head_type(spelling).slug == "previous-token"


def test_bare_name_without_head_resolves(catalog_db: HeadDB) -> None:
    assert catalog_db.head_type("name mover").slug == "name-mover"
    assert catalog_db.head_type("Inhibition Head").slug == "s-inhibition"


def test_unknown_head_type_suggests_close_names(catalog_db: HeadDB) -> None:
    with pytest.raises(UnknownNameError, match="closest known: .*Name Mover"):
        catalog_db.head_type("nmae mover")


def test_lookup_key_is_the_validators_rule(catalog_db: HeadDB) -> None:
    spellings = [n for t in catalog_db.head_types() for n in (t.slug, t.name, *t.aliases)]
    assert spellings and all(lookup_key(n) == _normalise(n) for n in spellings)
    assert short_key("Name Mover Head") == "name mover" and short_key("Head") is None and short_key("Mover") is None


def test_keys_follow_renames(catalog_db: HeadDB) -> None:
    from headdb.db.engine import write_session
    from headdb.db.models import HeadType

    with write_session(catalog_db.engine) as s:
        s.query(HeadType).filter_by(slug="successor").one().name = "Ordinal Successor Head"
    assert catalog_db.head_type("ordinal successor").slug == "successor"


def _plan(db: HeadDB, statement, params) -> str:  # type: ignore[no-untyped-def]
    compiled = statement.compile(db.engine)
    values = compiled.construct_params(params)
    with db.engine.connect() as conn:
        positional = tuple(values[name] for name in compiled.positiontup or ())
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), positional).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_sqlite_plans_search_indexes_and_scan_no_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = HeadDB(f"sqlite:///{tmp_path / 'plan.sqlite'}")
    db.upgrade()
    add_results(db, "m", {"induction": [[0.9, 0.1]]})
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    params = {"model_id": None, "name_key": "m", "revision": "", "type_key": "induction"}
    plan = _plan(db, _labels_statement(True), params)
    assert "SCAN head_labels" not in plan and "SCAN head_scores" not in plan and "SCAN heads" not in plan
    for table in ("head_types", "head_type_aliases", "models"):
        assert f"SCAN {table}" not in plan, plan
    head_type_plan = _plan(db, names._head_type_statement(), {"key": "induction"})
    assert "SCAN head_types" not in head_type_plan and "SCAN head_type_aliases" not in head_type_plan
    assert head_type_plan.count("USING COVERING INDEX ix_head_types_") == 3 and "ix_head_type_aliases_alias_key" in head_type_plan


def test_schema_is_checked_once_per_handle(catalog_db: HeadDB, monkeypatch: pytest.MonkeyPatch) -> None:
    import headdb.api

    calls = []
    original = headdb.api.ensure_current
    monkeypatch.setattr(headdb.api, "ensure_current", lambda engine: (calls.append(1), original(engine)))
    fresh = HeadDB(catalog_db.url)
    fresh.papers()
    fresh.head_types()
    fresh.claims(model="gpt2")
    assert len(calls) == 1


def test_an_old_schema_is_still_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from headdb.db.migrate import SchemaNotReadyError, downgrade

    db = HeadDB(f"sqlite:///{tmp_path / 'old.sqlite'}")
    db.upgrade()
    downgrade(db.engine, "0003")
    with pytest.raises(SchemaNotReadyError, match="headdb db upgrade"):
        HeadDB(db.url).papers()


# -- revisions ------------------------------------------------------------------------------------


@pytest.fixture
def revisions_db(empty_db: HeadDB) -> HeadDB:
    add_results(empty_db, "Fam/Model-A", {"induction": [[0.9, 0.2], [0.1, 0.7]]})
    add_results(empty_db, "Fam/Model-A", {"induction": [[0.1, 0.2], [0.1, 0.8]]}, revision="step-000100", step=100)
    return empty_db


def test_revisions_are_separate_models(revisions_db: HeadDB) -> None:
    db = revisions_db
    assert {l.coordinate for l in db.labels("fam/model_a", "induction")} == {"0.0", "1.1"}
    assert {l.coordinate for l in db.labels("Fam/Model-A@step-000100")} == {"1.1"}
    assert db.labels("Fam/Model-A", revision="step-000100")[0].revision == "step-000100"
    assert db.revisions("Fam/Model-A") == ["", "step-000100"]
    assert [(m.revision, m.step) for m in db.models()] == [("", None), ("step-000100", 100)]
    assert {r.revision for r in db.runs("Fam/Model-A@step-000100")} == {"step-000100"}
    assert db.scores("Fam/Model-A@step-000100", "induction")[1, 1].item() == pytest.approx(0.8)


def test_unknown_revision_lists_the_stored_ones(revisions_db: HeadDB) -> None:
    with pytest.raises(UnknownNameError, match="no revision 'step-9'.*step-000100"):
        revisions_db.labels("Fam/Model-A@step-9")
    with pytest.raises(UnknownNameError, match="unknown model"):
        revisions_db.labels("no-such-model")
    with pytest.raises(UnknownNameError, match="unknown head type"):
        revisions_db.labels("Fam/Model-A", "no such type")


def test_labels_of_a_model_without_labels_is_empty(empty_db: HeadDB) -> None:
    add_results(empty_db, "quiet", {"induction": [[0.1, 0.2]]})
    assert empty_db.labels("quiet") == [] and empty_db.labels("quiet", "induction") == []


def test_labels_are_ordered_by_type_then_rank(empty_db: HeadDB) -> None:
    add_results(empty_db, "m", {"induction": [[0.6, 0.9]], "previous-token": [[0.7, 0.8]]})
    labels = empty_db.labels("m")
    assert [(l.head_type, l.coordinate, l.rank) for l in labels] == [
        ("induction", "0.1", 1), ("induction", "0.0", 2), ("previous-token", "0.1", 1), ("previous-token", "0.0", 2)]
    assert labels.to_frame()["revision"].tolist() == [""] * 4


def test_local_directory_name_resolves(empty_db: HeadDB, tmp_path) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path / "my-model"
    directory.mkdir()
    add_results(empty_db, "my-model", {"induction": [[0.9]]})
    assert [l.coordinate for l in empty_db.labels(str(directory))] == ["0.0"]
    with Session(empty_db.engine) as s:
        assert names.model(s, str(directory)).name == "my-model"


def test_head_type_keys_are_backfilled_by_the_migration(empty_db: HeadDB) -> None:
    from headdb.db.migrate import downgrade, upgrade

    empty_db.ingest()
    downgrade(empty_db.engine, "0004")
    upgrade(empty_db.engine)
    with empty_db.engine.connect() as conn:
        missing = conn.execute(text("SELECT count(*) FROM head_types WHERE slug_key IS NULL OR name_key IS NULL")).scalar()
        aliases = conn.execute(text("SELECT alias, alias_key FROM head_type_aliases")).all()
    assert missing == 0 and aliases and all(key == lookup_key(alias) for alias, key in aliases)
    assert HeadDB(empty_db.url).head_type("Previous Head").slug == "previous-token"


# -- heads across training --------------------------------------------------------------------------


def test_training_points_first_labels_and_frame(empty_db: HeadDB) -> None:
    from headdb.errors import NotFoundError

    for step, grid in ((300, [[0.9, 0.1]]), (100, [[0.2, 0.6]]), (200, [[0.7, 0.1]])):
        add_results(empty_db, "toy", {"induction": grid, "previous-token": [[0.1, 0.1]]}, revision=f"step{step}", step=step)
    add_results(empty_db, "toy", {"induction": [[0.9, 0.9]]})  # as published: no step, not part of training
    training = empty_db.training("TOY")
    assert training.steps == (100, 200, 300) and training.head_types == ("induction", "previous-token")
    assert [(p.step, p.coordinate, p.score, p.label) for p in training if p.head_type == "induction"] == [
        (100, "0.0", 0.2, False), (200, "0.0", 0.7, True), (300, "0.0", 0.9, True),
        (100, "0.1", 0.6, True), (200, "0.1", 0.1, False), (300, "0.1", 0.1, False)]
    firsts = {(f.head_type, f.coordinate): f for f in training.first_labels}
    assert (firsts["induction", "0.0"].first_step, firsts["induction", "0.0"].stable_step) == (200, 200)
    assert (firsts["induction", "0.1"].first_step, firsts["induction", "0.1"].stable_step) == (100, None)
    assert firsts["previous-token", "0.0"].first_step is None and firsts["induction", "0.0"].n_steps == 3
    frame = training.to_frame()
    assert len(frame) == 12 and {"step", "head_type", "layer", "head", "score", "label", "revision"} <= set(frame.columns)
    assert training.first_labels.to_frame().shape[0] == 4
    assert len(empty_db.training("toy", head_type="Previous Head")) == 6
    with pytest.raises(NotFoundError, match="no stored revision with a training step"):
        add_results(empty_db, "flat", {"induction": [[0.9]]})
        empty_db.training("flat")
    with pytest.raises(UnknownNameError):
        empty_db.training("nothing-like-it")


def test_cli_training_heads_and_models_with_revisions(empty_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from headdb.cli import main

    for step, grid in ((100, [[0.2, 0.6]]), (200, [[0.7, 0.1]])):
        add_results(empty_db, "toy", {"induction": grid}, revision=f"step{step}", step=step)
    assert main(["--url", empty_db.url, "training", "toy"]) == 0
    out = capsys.readouterr().out
    assert "toy: 2 training steps (100 to 200), 1 head types" in out
    assert "induction  0.0         200         200          1/2" in out
    assert main(["--url", empty_db.url, "training", "toy", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["steps"] == [100, 200] and len(data["points"]) == 4 and len(data["first_labels"]) == 2
    assert main(["--url", empty_db.url, "heads", "toy@step100"]) == 0
    assert "0.1" in capsys.readouterr().out
    assert main(["--url", empty_db.url, "heads", "toy", "--revision", "step200", "--json"]) == 0
    assert [r["coordinate"] for r in json.loads(capsys.readouterr().out)] == ["0.0"]
    assert main(["--url", empty_db.url, "models", "--json"]) == 0
    assert [(m["revision"], m["step"]) for m in json.loads(capsys.readouterr().out)] == [("step100", 100), ("step200", 200)]
    assert main(["--url", empty_db.url, "heads", "toy"]) == 1
    assert "has no revision ''; its revisions: step100, step200" in capsys.readouterr().err
