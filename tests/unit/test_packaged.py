"""Split-zip model packages (as MPNet-base ships offline), with fake installed distributions."""

import io
import sys
import zipfile

import pytest

from wattcut.errors import UserInputError
from wattcut.models.loading import resolve_model_source
from wattcut.settings import ModelConfig


def _install_parts(site, model_dir, n=3, skip=()):
    """Zip ``model_dir`` as model-x/..., split it in ``n`` parts, one fake distribution each."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(model_dir.iterdir()):
            z.write(f, f"model-x/{f.name}")
    data = buf.getvalue()
    size = len(data) // n + 1
    for i in range(1, n + 1):
        if i in skip:
            continue
        pkg = site / f"fake-model-part_{i:03d}" / "input"
        pkg.mkdir(parents=True)
        (pkg / f"model-x.zip.{i:03d}").write_bytes(data[(i - 1) * size : i * size])
        info = site / f"fake_model_part_{i:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-model-part-{i:03d}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"fake-model-part_{i:03d}/input/model-x.zip.{i:03d},,\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    d = tmp_path / "site"
    d.mkdir()
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("WATTCUT_CACHE", str(tmp_path / "cache"))
    return d


def test_split_zip_parts_are_joined_once_and_load(site, tiny_bert, tmp_path):
    from transformers import AutoConfig

    _install_parts(site, tiny_bert)
    folder = resolve_model_source(ModelConfig(package="fake-model-part-001"))
    assert folder == str(tmp_path / "cache" / "model-x" / "model-x")
    assert AutoConfig.from_pretrained(folder).hidden_size == 32
    (tmp_path / "cache" / "model-x" / "model-x" / "marker").write_text("kept")
    assert resolve_model_source(ModelConfig(package="fake-model-part-001")) == folder  # cached, not re-extracted
    assert (tmp_path / "cache" / "model-x" / "model-x" / "marker").is_file()


def test_a_missing_part_is_a_clear_error(site, tiny_bert):
    _install_parts(site, tiny_bert, skip=(2,))
    with pytest.raises(UserInputError, match=r"parts found are \[1, 3\]; they must start at 1 with no gap"):
        resolve_model_source(ModelConfig(package="fake-model-part-001"))


def test_an_unknown_package_still_says_how_to_install(site):
    with pytest.raises(UserInputError, match="is not installed"):
        resolve_model_source(ModelConfig(package="no-such-model-part-001"))


def test_parts_are_never_imported(site, tiny_bert):
    _install_parts(site, tiny_bert)
    resolve_model_source(ModelConfig(package="fake-model-part-001"))
    assert not [m for m in sys.modules if m.startswith("fake")]
