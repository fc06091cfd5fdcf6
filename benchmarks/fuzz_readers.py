"""Run the reader fuzz properties of ``tests/data_prep/test_reader_fuzz.py`` longer and record the result.

The same properties CI runs with a few examples (damaged DICOM, PNG/JPEG, NIfTI/MHA files through the
readers, ``convert`` and ``validate``) run here with ``--examples`` each; the result (examples per
reader, what the readers did with them, failures, run time, the command) replaces the section between
``<!-- fuzz:begin -->`` and ``<!-- fuzz:end -->`` of ``docs/reliability.md`` (other sections are kept).

Example::

    python benchmarks/fuzz_readers.py --examples 2000          # the long run
    python benchmarks/fuzz_readers.py --examples 300 --random  # fresh random examples, not CI's
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_FILE = ROOT / "tests" / "data_prep" / "test_reader_fuzz.py"
REPORT = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- fuzz:begin -->", "<!-- fuzz:end -->"
HEADER = "# Reliability\n\nMeasured behaviour of the project under damaged inputs and interruptions; each section is written by the script it names.\n"


def load_properties(examples: int, random: bool):
    """Import the test module with ``SEG3D_FUZZ_EXAMPLES`` set (its settings are read at import)."""
    os.environ["SEG3D_FUZZ_EXAMPLES"] = str(examples)
    if random:
        os.environ["SEG3D_FUZZ_RANDOM"] = "1"
    sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location("test_reader_fuzz", TEST_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_section(text: str, path: Path = REPORT) -> None:
    """Replace this script's section of ``path`` (created with a short header when missing)."""
    from data_prep.io import write_text  # the project's atomic writer

    current = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    section = f"{BEGIN}\n{text.rstrip()}\n{END}"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + section + rest.split(END, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + section + "\n"
    write_text(current, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=2000, help="examples per property (default 2000)")
    parser.add_argument("--random", action="store_true", help="random examples instead of CI's fixed ones")
    parser.add_argument("--memory-gib", type=int, default=8, help="address-space limit of the run (GiB)")
    parser.add_argument("--no-report", action="store_true", help=f"do not write {REPORT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    # a reader that allocates what a damaged header declares must fail here, not take the machine down
    resource.setrlimit(resource.RLIMIT_AS, (args.memory_gib << 30, args.memory_gib << 30))
    module = load_properties(args.examples, args.random)
    rows, failures, start = [], [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-corpus-") as folder:
        corpus = module.build_corpus(Path(folder))
        for name, prop in module.PROPERTIES.items():
            module.OUTCOMES.clear()
            t0 = time.perf_counter()
            try:
                prop(corpus=corpus)
                failed = 0
            except Exception:  # noqa: BLE001 - a falsified property: record it and go on
                failed = 1
                failures.append(f"{name}: {traceback.format_exc(limit=3)}")
            seconds = time.perf_counter() - t0
            outcome = ", ".join(f"{k} {v}" for k, v in sorted(module.OUTCOMES.items()))
            rows.append(
                f"| {name} | {sum(module.OUTCOMES.values())} | {outcome} | {failed} | {seconds:.0f} s |"
            )
            print(rows[-1], flush=True)
    total = time.perf_counter() - start
    command = "python benchmarks/fuzz_readers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join(
        [
            "## Damaged inputs (reader fuzzing)",
            "",
            "Truncations, byte flips and header edits (NIfTI dim/pixdim/datatype/vox_offset/qform/sform; MetaImage "
            "header lines; PNG IHDR and chunk CRCs; JPEG frame header; DICOM Rows, BitsAllocated, SamplesPerPixel, "
            "PixelSpacing, ImagePositionPatient, TransferSyntaxUID ... removed or altered) of small valid files, "
            "through the readers, `convert` and `validate` (properties of `tests/data_prep/test_reader_fuzz.py`). "
            "A failure is any exception other than `DataPrepError`, an error message that is not one line naming the "
            "file, or a file left in the output folder after a refusal.",
            "",
            "| property | examples | outcomes | failures | time |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Failures found: {len(failures)}. Total run time {total:.0f} s on {os.cpu_count()} CPU cores, "
            f"{args.examples} examples per property ({'random' if args.random else 'derandomized, as CI'}).",
            f"Command: `{command.strip()}`; CI runs the same properties with 12 examples each.",
            *(["", "```", *failures, "```"] if failures else []),
        ]
    )
    if not args.no_report:
        write_section(text)
        print(f"{REPORT}: fuzz section written")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
