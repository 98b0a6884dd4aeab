#!/usr/bin/env python3
"""Derive headdb's published per-head datasets (``published/``) from the authors' repositories.

Each source is read from a git directory (a bare mirror or a clone) at a fixed commit, so the
output is reproducible; nothing is downloaded. Writes ``published/<paper slug>/<name>.csv``
(``layer,head,value[,role]``) and the ``<name>.yaml`` that describes it.

    python scripts/derive_published.py retrieval-head GITDIR
    python scripts/derive_published.py knowledge-circuits GITDIR
    python scripts/derive_published.py ioi GITDIR
    python scripts/derive_published.py greater-than GITDIR

Sources and derivations:

- ``retrieval-head``: github.com/nightdessert/Retrieval_Head, ``head_score/<model>.json``: for
  every (query) head ``"layer-head"``, the list of its retrieval scores over the needle tests the
  model passed. A head's value is the arithmetic mean of its list, as the repository's README and
  scripts rank heads. The paper's threshold (a retrieval head scores above 0.1) comes along.
- ``knowledge-circuits``: github.com/zjunlp/KnowledgeCircuits, ``computed_circuits/gpt2-medium/
  <case>/graph.gv``: the attention-head nodes (``"<aL.H>"``) of each published circuit, with the
  roles the paper and the repository's ``specialNode.txt`` give some of them.
- ``ioi``: github.com/redwoodresearch/Easy-Transformer, ``easy_transformer/ioi_circuit_extraction.py``:
  the ``CIRCUIT`` dictionary, role -> (layer, head) pairs, commented-out heads left out.
- ``greater-than``: github.com/hannamw/gpt2-greater-than, ``circuit_discovery.py``: the heads
  the path-patching steps add at the END position (``attention_set_extenders``) and at the YY
  position (``lower_extenders``).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "published"
SCRIPT = "scripts/derive_published.py"


def git_show(gitdir: str, commit: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, "show", f"{commit}:{path}"], check=True,
                          capture_output=True).stdout.decode("utf-8")


def number(value: float) -> str:
    """Four decimals, trailing zeros dropped; exact zero as 0."""
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def write(paper: str, name: str, meta: dict[str, object], rows: list[tuple[int, int, float, str | None]]) -> None:
    directory = OUT / paper
    directory.mkdir(parents=True, exist_ok=True)
    with_roles = any(role for *_, role in rows)
    with open(directory / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["layer", "head", "value", "role"] if with_roles else ["layer", "head", "value"])
        for layer, head, value, role in sorted(rows):
            out.writerow([layer, head, number(value)] + ([role or ""] if with_roles else []))
    header = f"# Written by {SCRIPT}; edit the script, not this file.\n"
    (directory / f"{name}.yaml").write_text(header + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100))
    print(f"{paper}/{name}: {len(rows)} heads")


# -- Retrieval Head (Wu et al. 2024) ---------------------------------------------------------------

RETRIEVAL_PAPER = "2024-retrieval-head-mechanistically-explains-long"
RETRIEVAL_COMMIT = "3ac171a6f71ce7ef1cda57d4215c390fb6ab51f2"
# file stem in head_score/ -> (dataset name, model name in headdb/data/models.yaml, note)
RETRIEVAL_FILES = {
    "llama-2-7b-80k": ("llama-2-7b-80k", "Llama-2-7B-80K", None),
    "llama-2-13b-64k": ("llama-2-13b-64k", "Llama-2-13B-64K", None),
    "Mistral-7B-v0.2-hf": ("mistral-7b-v0.2", "Mistral-7B-v0.2", (
        "Which Mistral-7B-v0.2 this is stays open: the file name matches a conversion of the base model, the paper's "
        "Figure 3 says Mistral-7B-v0.2, but its Table 1 lists Mistral-7B-Instruct-v0.2 and the repository's "
        "needle_in_haystack_with_mask.py maps that name to this file.")),
    "Mixtral-8x7B-v0.1": ("mixtral-8x7b-v0.1", "Mixtral-8x7B-v0.1", None),
    "Qwen1.5-14B": ("qwen1.5-14b", "Qwen1.5-14B", None),
    "Qwen1.5-14B-Chat": ("qwen1.5-14b-chat", "Qwen1.5-14B-Chat", None),
    "Yi-6B-200K": ("yi-6b-200k", "Yi-6B-200K", (
        "The shares of heads per score band derived from this file differ slightly from the paper's Figure 3 "
        "(e.g. 49.4% vs 50.7% of heads at zero); the file may hold other runs than the figure.")),
}
RETRIEVAL_THRESHOLD = {
    "value": 0.1,
    "op": ">",
    "source": ("Wu et al. 2024, §2 'Detecting Retrieval Head' (p. 3-4, with Fig. 3): the threshold is set at 0.1, a head "
               "that copies in 10% of cases is a retrieval head; §3.1 restates that 3-6% of heads score above 0.1. "
               "Read from a transcription of arXiv 2404.15574 (secondary copy; its version was not confirmed)."),
}


def retrieval_head(gitdir: str, commit: str) -> None:
    for stem, (name, model, note) in RETRIEVAL_FILES.items():
        path = f"head_score/{stem}.json"
        data = json.loads(git_show(gitdir, commit, path).splitlines()[0])
        lengths = {len(samples) for samples in data.values()}
        if len(lengths) != 1:
            raise SystemExit(f"{path}: heads have different numbers of samples: {sorted(lengths)}")
        rows = []
        for key, samples in data.items():
            layer, head = (int(part) for part in key.split("-"))
            rows.append((layer, head, math.fsum(samples) / len(samples), None))
        (n,) = lengths
        meta = {
            "title": f"Retrieval scores of every head of {model}",
            "model": model,
            "head_type": "Retrieval Head",
            "kind": "scores",
            "quantity": ("retrieval score: the share of the needle's tokens a head copy-pastes while the model repeats the "
                         "needle (top-1 attention inside the needle on the token just generated), averaged over the "
                         f"{n} needle-in-a-haystack tests the model passed"),
            "source": {"repository": "https://github.com/nightdessert/Retrieval_Head", "path": path, "commit": commit},
            "derivation": (f"value = arithmetic mean of the head's list of {n} per-test scores in {path} (the file's first "
                           "line is a JSON object 'layer-head' -> list), rounded to 4 decimals; the repository's README and "
                           "needle_in_haystack_with_mask.py rank heads by the same mean. Heads are query heads (the scripts "
                           "loop over num_attention_heads), also for models with grouped key/value heads. A per-test score "
                           "counts repeated copies, so a mean can slightly exceed 1."),
            "derived_by": f"{SCRIPT} retrieval-head",
            "n_samples": n,
            "threshold": RETRIEVAL_THRESHOLD,
        }
        if note:
            meta["note"] = note
        write(RETRIEVAL_PAPER, name, meta, rows)


# -- Knowledge Circuits (Yao et al. 2024) ----------------------------------------------------------

KC_PAPER = "2024-knowledge-circuits-pretrained-transformers"
KC_COMMIT = "bda3d22cf3b74a6b48c092f952e95b6414d8a9de"
KC_CASES = {  # directory -> (dataset name, prompt -> target as in io.txt, roles the paper states)
    "Factual Knowledge": ("circuit-factual-capital-of-china", "The capital city of China is -> Beijing", {}),
    "Hallucination": ("circuit-hallucination-currency-of-malaysia", "The official currency of Malaysia is called -> Ringgit", {
        (15, 0): ("mover head that moves the wrong answer 'Malaysian' (paper Fig. 5(a) 'L15H0', specialNode.txt 'a15.0'; "
                  "the paper's §6 text says L15H10)"),
    }),
    "In-Context Learning": ("circuit-icl-comparative-of-small", "The comparative form of small is -> smaller", {
        (12, 13): "new in the circuit with a demonstration; attends to it like an induction head (paper §6, Fig. 5(b))",
        (14, 11): "new in the circuit with a demonstration; attends to it like an induction head (paper §6, Fig. 5(b))",
        (17, 2): "new in the circuit with a demonstration; attends to it like an induction head (paper §6, Fig. 5(b))",
    }),
}
NODE = re.compile(r'^\s*"<a(\d+)\.(\d+)>"', re.MULTILINE)


def knowledge_circuits(gitdir: str, commit: str) -> None:
    for case, (name, io, roles) in KC_CASES.items():
        path = f"computed_circuits/gpt2-medium/{case}/graph.gv"
        heads = sorted({(int(l), int(h)) for l, h in NODE.findall(git_show(gitdir, commit, path))})
        missing = set(roles) - set(heads)
        if missing:
            raise SystemExit(f"{path}: heads with stated roles are not in the circuit: {sorted(missing)}")
        meta = {
            "title": f"Attention heads of the published knowledge circuit '{io}'",
            "model": "gpt2-medium",
            "kind": "members",
            "quantity": f"membership in the circuit the authors computed for '{io}' (1 = the head is a node of the circuit)",
            "source": {"repository": "https://github.com/zjunlp/KnowledgeCircuits", "path": path, "commit": commit},
            "derivation": (f"every attention-head node '<aL.H>' declared in {path} (Graphviz, written by the repository's "
                           "ACDC code; L and H 0-indexed as in TransformerLens); MLP and output nodes are left out. Roles "
                           "are given only where the paper or the case's specialNode.txt names the head for this circuit. "
                           "The circuit was found by ACDC edge pruning with zero ablation (paper §3)."),
            "derived_by": f"{SCRIPT} knowledge-circuits",
        }
        write(KC_PAPER, name, meta, [(l, h, 1.0, roles.get((l, h))) for l, h in heads])


# -- IOI (Wang et al. 2022) and greater-than (Hanna et al. 2023) ---------------------------------


def _assigned(source: str, name: str) -> ast.AST:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise SystemExit(f"no assignment to {name}")


IOI_PAPER = "2023-interpretability-wild-circuit-indirect-object"
IOI_COMMIT = "ea15315dd24481e9e2ac5c3ef335d82907a1dc34"


def ioi(gitdir: str, commit: str) -> None:
    path = "easy_transformer/ioi_circuit_extraction.py"
    circuit = ast.literal_eval(_assigned(git_show(gitdir, commit, path), "CIRCUIT"))
    rows = [(layer, head, 1.0, role) for role, heads in circuit.items() for layer, head in heads]
    meta = {
        "title": "Attention heads of the IOI circuit in GPT-2 small",
        "model": "gpt2",
        "kind": "members",
        "quantity": "membership in the indirect-object-identification circuit (1 = the head is in it), with its class",
        "source": {"repository": "https://github.com/redwoodresearch/Easy-Transformer", "path": path, "commit": commit},
        "derivation": (f"the CIRCUIT dictionary of {path} (class -> list of (layer, head)), read as a Python literal; heads "
                       "commented out in the code are not included. The code's 'name mover' class holds the name movers and "
                       "the backup name movers together; 'negative' are the negative name movers."),
        "derived_by": f"{SCRIPT} ioi",
    }
    write(IOI_PAPER, "circuit-ioi", meta, rows)


GT_PAPER = "2023-gpt-2-compute-greater-than"
GT_COMMIT = "0e6dc8c2da87f7d2befeb2a4dd432fae404ea35a"


def _head_pairs(node: ast.AST) -> list[tuple[int, int]]:
    pairs = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Tuple) and len(sub.elts) == 2 and all(isinstance(e, ast.Constant) for e in sub.elts):
            layer, head = (e.value for e in sub.elts)  # type: ignore[attr-defined]
            if isinstance(layer, int) and isinstance(head, int):
                pairs.append((layer, head))
    return pairs


def greater_than(gitdir: str, commit: str) -> None:
    path = "circuit_discovery.py"
    source = git_show(gitdir, commit, path)
    roles = {"attention_set_extenders": "head at the END position feeding MLPs 8-11",
             "lower_extenders": "head at the YY position, with MLPs 0-3"}
    rows: dict[tuple[int, int], str] = {}
    for variable, role in roles.items():
        for pair in _head_pairs(_assigned(source, variable)):
            rows.setdefault(pair, role)
    meta = {
        "title": "Attention heads of the greater-than circuit in GPT-2 small",
        "model": "gpt2",
        "kind": "members",
        "quantity": "membership in the greater-than circuit (1 = the head is in it), with the position it acts at",
        "source": {"repository": "https://github.com/hannamw/gpt2-greater-than", "path": path, "commit": commit},
        "derivation": (f"the (layer, head) pairs (MLPs left out) of the head sets {', '.join(roles)} in {path}, the sets the "
                       "paper's path-patching steps build the circuit from."),
        "derived_by": f"{SCRIPT} greater-than",
        "note": ("ACDC's ground-truth copy of this circuit (ArthurConmy/Automatic-Circuit-Discovery, "
                 "acdc/greaterthan/utils.py) lists 6.1 and omits 5.1 and 8.8 at END."),
    }
    write(GT_PAPER, "circuit-greater-than", meta, [(l, h, 1.0, r) for (l, h), r in rows.items()])


COMMANDS = {
    "retrieval-head": (retrieval_head, RETRIEVAL_COMMIT),
    "knowledge-circuits": (knowledge_circuits, KC_COMMIT),
    "ioi": (ioi, IOI_COMMIT),
    "greater-than": (greater_than, GT_COMMIT),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=sorted(COMMANDS))
    parser.add_argument("gitdir", help="git directory of the source repository (bare mirror or clone's .git)")
    parser.add_argument("--commit", help="commit to read (default: the one headdb's data was derived from)")
    args = parser.parse_args(argv)
    derive, commit = COMMANDS[args.source]
    derive(args.gitdir, args.commit or commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
