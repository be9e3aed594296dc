"""The `embeddings` commands: train word2vec on a report corpus, check a word vectors file.

    python -m cxrmodel embeddings train --corpus PATH --output FILE.txt [--dimension 300] [--window 5]
        [--min-count 2] [--epochs 20] [--seed 2019] [--force]
    python -m cxrmodel embeddings check FILE [--dimension D]

``train`` reads the corpus — an OpenI reports archive (``.tgz``/``.tar``), a folder of OpenI XML files or one
``.xml`` (the FINDINGS + IMPRESSION text each study's model reads, :func:`cxrmodel.data.openi.load_openi`), or a
plain ``.txt`` / ``.txt.gz`` with one report per line — trains word2vec
(:func:`cxrmodel.training.embeddings.train_word2vec`, one thread, seeded: repeatable) and writes the vectors in
word2vec text format (``.gz`` = compressed). It prints a JSON summary (words, dimension, reports, seconds).

Resumable: the settings and the corpus' sha256 are written next to the vectors (``FILE.meta.json``); a rerun with
the same settings and corpus reuses the finished file (``"reused": true``) instead of retraining, a rerun with
different ones is refused unless ``--force``. The vectors file is renamed into place only when complete, so an
interrupted run leaves no file that looks finished.

``check`` loads word2vec or GloVe text vectors (e.g. external ones for ``evaluate --word-vectors FILE``) and prints
their count and dimension. Every user error exits with status 2 and one line on stderr.

`cxrmodel.cli.main` registers the commands with `add_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import time
from pathlib import Path

from cxrmodel.cli._common import SEED_HELP, positive_int

logger = logging.getLogger(__name__)

META_FORMAT = "cxrmodel-word2vec-run"
OPENI_SUFFIXES = (".tgz", ".tar", ".gz", ".xml")


def read_corpus(path: Path) -> list[str]:
    """Report texts of a corpus: OpenI archive/folder/XML, or plain text with one report per line.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For an unreadable corpus or one without any report text.
    """
    if not path.exists():
        raise FileNotFoundError(f"corpus {path} does not exist")
    name = path.name.lower()
    if path.is_file() and (name.endswith(".txt") or name.endswith(".txt.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as stream:
                reports = [line.strip() for line in stream if line.strip()]
        except UnicodeDecodeError:
            raise ValueError(f"corpus {path} is not UTF-8 text") from None
        except (gzip.BadGzipFile, EOFError) as error:
            raise ValueError(f"corpus {path} is a damaged gzip file ({error})") from None
    elif path.is_dir() or name.endswith(OPENI_SUFFIXES):
        from cxrmodel.data.openi import load_openi  # noqa: PLC0415 - the OpenI reader only for an OpenI corpus

        reports = [study.report_text for study in load_openi(path) if study.report_text.strip()]
    else:
        raise ValueError(f"corpus {path}: expected an OpenI reports archive (.tgz/.tar), a folder of OpenI XML, "
                         "an .xml file, or a .txt/.txt.gz file with one report per line")
    if not reports:
        raise ValueError(f"corpus {path} holds no report text")
    return reports


def _corpus_fingerprint(path: Path) -> str:
    if path.is_dir():
        return f"folder:{path.resolve()}"
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _meta_path(output: Path) -> Path:
    return output.with_name(output.name + ".meta.json")


def run_train(arguments: argparse.Namespace) -> int:
    """Handler of `embeddings train` (see the module docstring)."""
    from cxrmodel.training.embeddings import save_word_vectors, train_word2vec  # noqa: PLC0415 - gensim only when training

    output: Path = arguments.output
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; give a file name such as {output / 'vectors.txt'}")
    settings = {"dimension": arguments.dimension, "window": arguments.window, "min_count": arguments.min_count,
                "epochs": arguments.epochs, "seed": arguments.seed, "skip_gram": True, "workers": 1}
    if not arguments.corpus.exists():
        raise FileNotFoundError(f"corpus {arguments.corpus} does not exist")
    fingerprint = _corpus_fingerprint(arguments.corpus)
    meta_path = _meta_path(output)
    if output.exists() and not arguments.force:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ValueError(f"{output} already exists and was not written by this command; pass --force to "
                             "overwrite it or choose another --output") from None
        if meta.get("settings") != settings or meta.get("corpus_fingerprint") != fingerprint:
            raise ValueError(f"{output} was trained with other settings or another corpus ({meta.get('settings')}); "
                             "pass --force to retrain or choose another --output")
        print(json.dumps({**meta["summary"], "reused": True}))
        return 0

    reports = read_corpus(arguments.corpus)
    started = time.perf_counter()
    vectors = train_word2vec(reports, **{key: settings[key] for key in ("dimension", "window", "min_count",
                                                                        "epochs", "seed")})
    output.parent.mkdir(parents=True, exist_ok=True)
    save_word_vectors(vectors, output)
    summary = {"output": str(output), "corpus": str(arguments.corpus), "reports": len(reports),
               "words": len(vectors), "dimension": vectors.dimension, **settings,
               "seconds": round(time.perf_counter() - started, 1)}
    meta = {"format": META_FORMAT, "settings": settings, "corpus_fingerprint": fingerprint, "summary": summary}
    temporary = meta_path.with_name("." + meta_path.name + ".partial")
    temporary.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    temporary.replace(meta_path)
    print(json.dumps({**summary, "reused": False}))
    return 0


def run_check(arguments: argparse.Namespace) -> int:
    """Handler of `embeddings check`: load a vectors file and print its count and dimension."""
    from cxrmodel.training.embeddings import load_word_vectors  # noqa: PLC0415 - the training code only when the command runs

    vectors = load_word_vectors(arguments.file, dimension=arguments.dimension)
    print(json.dumps({"file": str(arguments.file), "words": len(vectors), "dimension": vectors.dimension}))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `embeddings train` and `embeddings check` on an argparse sub-command set."""
    embeddings = subparsers.add_parser("embeddings", help="word vectors: train word2vec on reports, check a file")
    commands = embeddings.add_subparsers(dest="embeddings_command", metavar="EMBEDDINGS_COMMAND")
    train = commands.add_parser(
        "train", help="train word2vec on a report corpus and write word2vec text vectors (resumable)"
    )
    train.add_argument("--corpus", type=Path, required=True,
                       help="OpenI reports .tgz, folder of OpenI XML, or .txt/.txt.gz with one report per line")
    train.add_argument("--output", type=Path, required=True, help="vectors file to write (.txt, or .gz to compress)")
    train.add_argument("--dimension", type=positive_int, default=300, help="vector length (the paper: 300)")
    train.add_argument("--window", type=positive_int, default=5, help="context words either side")
    train.add_argument("--min-count", type=positive_int, default=2, help="words seen fewer times get no vector")
    train.add_argument("--epochs", type=positive_int, default=20, help="passes over the corpus")
    train.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    train.add_argument("--force", action="store_true", help="retrain even if OUTPUT exists")
    train.set_defaults(handler=run_train)
    check = commands.add_parser("check", help="load a word2vec/GloVe text file and print its count and dimension")
    check.add_argument("file", type=Path, help="word2vec text (with header) or GloVe text (no header), plain or .gz")
    check.add_argument("--dimension", type=positive_int, default=None, help="require this vector length")
    check.set_defaults(handler=run_check)
    return embeddings
