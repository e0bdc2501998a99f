"""Issue 24, item 19: committed reports name data by dataset or relative to the data folder, never by a machine path."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# absolute paths of this or any developer's machine (POSIX homes, temp and work folders; Windows drives)
ABSOLUTE = re.compile(r"(?<![\w.])(/(root|home|tmp|work|Users|var/folders|mnt|opt)/[\w.-]+|[A-Z]:\\\\[\w.-]+)")


def test_19_no_committed_file_under_docs_holds_an_absolute_path():
    hits = []
    for path in sorted((REPO / "docs").rglob("*")):
        if not path.is_file() or path.suffix in (".png", ".jpg", ".sqlite"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        hits += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in ABSOLUTE.finditer(text)][:3]
    assert not hits, "\n".join(hits[:20])


def test_19_data_sources_are_named_relative_to_the_data_folder(monkeypatch, tmp_path):
    from wattcut.data.catalog import shown

    data = tmp_path / "data"
    (data / "sst2").mkdir(parents=True)
    (data / "sst2" / "dev.tsv").write_text("x")
    monkeypatch.setenv("WATTCUT_DATA_DIR", str(data))
    assert shown(data / "sst2" / "dev.tsv") == "sst2/dev.tsv (data folder)"
    assert shown("elsewhere/file.csv") == "elsewhere/file.csv"
