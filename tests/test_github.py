"""The pull-request workflow, issue form, PR template and pre-commit hook: valid YAML, the right
triggers and jobs, and commands that are exactly the README's."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def _readme_commands() -> set[str]:
    commands = set()
    for block in re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command:
                commands.add(command)
    return commands


def _workflow() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_workflow_runs_on_pull_requests_and_deploys_main() -> None:
    wf = _workflow()
    assert "pull_request" in wf["on"] and wf["on"]["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    assert {"validate", "test", "site", "deploy"} <= set(jobs)
    deploy = jobs["deploy"]
    assert "refs/heads/main" in deploy["if"] and set(deploy["needs"]) == {"validate", "test", "site"}
    assert any(step.get("uses", "").startswith("actions/deploy-pages@") for step in deploy["steps"])
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    for name, job in jobs.items():
        assert job["runs-on"] == "ubuntu-latest", name
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), (name, step)


def test_workflow_commands_are_the_readmes() -> None:
    readme = _readme_commands()
    run = [line.strip() for job in _workflow()["jobs"].values() for step in job["steps"] if "run" in step
           for line in step["run"].splitlines() if line.strip()]
    assert run and set(run) <= readme, set(run) - readme
    assert "make test" in run and "make install" in run
    validate = next(c for c in run if " validate " in c)
    assert validate.endswith("papers/ --github-annotations")  # problems annotate the changed files


def test_postgresql_service_matches_the_test_url() -> None:
    test = _workflow()["jobs"]["test"]
    env = test["services"]["postgres"]["env"]
    url = test["env"]["HEADDB_TEST_POSTGRES_URL"]
    assert f"{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@" in url and url.endswith("/" + env["POSTGRES_DB"])


def test_issue_form_and_pull_request_template() -> None:
    form = yaml.safe_load((REPO / ".github" / "ISSUE_TEMPLATE" / "suggest-paper.yml").read_text())
    assert form["name"] and form["description"]
    ids = [item["id"] for item in form["body"] if "id" in item]
    assert len(ids) == len(set(ids)) and {"title", "link", "arxiv", "heads", "claims"} <= set(ids)
    assert all(item["type"] in {"markdown", "input", "textarea", "checkboxes", "dropdown"} for item in form["body"])
    template = (REPO / ".github" / "pull_request_template.md").read_text()
    assert "headdb validate papers/" in template and "- [ ]" in template


def test_pre_commit_hook_runs_the_validator() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    (hook,) = config["repos"][0]["hooks"]
    assert config["repos"][0]["repo"] == "local" and hook["entry"].endswith("headdb validate papers/")
    assert hook["pass_filenames"] is False and re.match(hook["files"], "papers/2024-x.yaml")
    (shared,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert shared["id"] == hook["id"] and "headdb validate" in shared["entry"]
