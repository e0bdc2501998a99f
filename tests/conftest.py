import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(autouse=True, scope="session")
def _data_dir(tmp_path_factory):
    """Tests read named datasets from WATTCUT_DATA_DIR, else ../shared/data beside the repo.

    Their studies' rates go to a ledger of their own (not the machine's, where earlier runs would make
    predictions appear in some results and not others).
    """
    if not os.environ.get("WATTCUT_DATA_DIR") and SHARED_DATA.is_dir():
        os.environ["WATTCUT_DATA_DIR"] = str(SHARED_DATA)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
    os.environ["WATTCUT_HISTORY"] = str(tmp_path_factory.mktemp("history"))
    yield


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    from tests.fakes.tiny_model import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ["WATTCUT_DATA_DIR"])
    if not (d / "sst2" / "dev.tsv").is_file():
        pytest.fail(f"SST-2 not found under {d}: set WATTCUT_DATA_DIR to the shared data folder")
    return d
