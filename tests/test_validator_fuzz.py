"""Fuzzing the validator: whatever a paper entry holds (random text, random bytes, a valid entry
with random values spliced in, known hostile YAML), ``load_catalog`` returns problems and never
raises; each problem is short and free of control characters, one file yields a bounded number
of them, and checking it takes a bounded amount of memory (measured with tracemalloc)."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from headdb.catalog.validate import DEFAULT_MODELS, DEFAULT_TAXONOMY, MAX_PROBLEMS_PER_FILE, load_catalog
from headdb.text import CONTROL_CHARS

from conftest import PAPERS

KC = "2024-knowledge-circuits-pretrained-transformers.yaml"
FUZZED = "2099-fuzzed.yaml"
MAX_PROBLEM_CHARS = 1000
MAX_MEMORY = 64 << 20  # bytes allocated at peak while checking one fuzzed file

VALID = yaml.safe_load((PAPERS / KC).read_text())

# A valid entry with one field replaced by an arbitrary YAML value.
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.text(max_size=60) | st.dates(min_value=dt.date(1, 1, 1))
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=40,
)
spliced = st.builds(
    lambda key, value, flow: yaml.safe_dump({**VALID, key: value}, default_flow_style=flow, allow_unicode=True),
    st.sampled_from([*VALID, "claims", "summary", "extra"]) | st.text(max_size=20),
    values,
    st.booleans(),
)
yaml_text = st.text(alphabet=st.sampled_from(list("abc019:-[]{}&*!|>'\"#%@`,.? \t\n\\\x00\x1b\x85\u2028\ufeff")), max_size=3000)


def _alias_bomb(levels: int) -> str:
    # Small enough that even a validator that expands it survives; its repr is still 400 KB.
    names = "abcdefghij"[: levels + 1]
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    text += "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip(names, names[1:]))
    return text + f"title: *{names[-1]}\n"


HOSTILE = [
    _alias_bomb(4),
    "title: " + "[" * 3000 + "]" * 3000,
    "title: a\ntitle: b\n",
    "date: 2024-02-30\n",
    "title: " + "9" * 5000 + "\n",
    "title: !!python/object/apply:os.system ['true']\n",
    "a: &x {b: 1}\n<<: *x\n",
    "\ufefftitle: bom\n",
    "title: \"\\x1b[2J\\u202e\"\n",
    "? [a, b]\n: c\n",
    "- " * 2000,
]
hostile = st.sampled_from(HOSTILE)
content = (
    spliced
    | yaml_text
    | hostile
    | st.builds(lambda a, b: a + b, hostile, yaml_text)
    | st.binary(max_size=3000)
)


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One valid entry plus the fuzzed one; a small taxonomy keeps each check fast."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "papers").mkdir()
    (root / "papers" / KC).write_text((PAPERS / KC).read_text())
    taxonomy = yaml.safe_load(DEFAULT_TAXONOMY.read_text())
    wanted = {h for h in VALID["heads"]}
    small = [t for t in taxonomy if t["name"] in wanted or set(t.get("aliases", [])) & wanted] + taxonomy[:5]
    (root / "taxonomy.yaml").write_text(yaml.safe_dump(small))
    assert load_catalog(root / "papers", root / "taxonomy.yaml", DEFAULT_MODELS).ok
    return root


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=content)
@example(data=HOSTILE[0])
@example(data=HOSTILE[1])
@example(data=HOSTILE[4])
def test_validator_never_raises_and_stays_bounded(catalog_dir: Path, data: str | bytes) -> None:
    path = catalog_dir / "papers" / FUZZED
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", errors="surrogatepass")

    tracemalloc.start()
    try:
        catalog = load_catalog(catalog_dir / "papers", catalog_dir / "taxonomy.yaml", DEFAULT_MODELS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < MAX_MEMORY
    problems = [str(p) for p in catalog.problems]
    assert all(FUZZED in p for p in problems), problems  # the valid entry stays valid
    assert len(problems) <= MAX_PROBLEMS_PER_FILE + 1
    for problem in problems:
        assert len(problem) < MAX_PROBLEM_CHARS, problem[:300]
        assert not CONTROL_CHARS.search(problem), repr(problem[:300])
    assert catalog.problems or any(r.path.name == FUZZED for r in catalog.papers)
