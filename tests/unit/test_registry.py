import pytest

from wattcut.errors import UserInputError
from wattcut.registry import Registry


def test_registry_lookup_and_suggestions():
    r: Registry[int] = Registry("meter", "[measure] meter")
    r.add("rapl", 1)
    r.add("nvml", 2)
    assert r.get("rapl") == 1 and r.names() == ["nvml", "rapl"] and "nvml" in r
    with pytest.raises(UserInputError, match='Did you mean "rapl"') as e:
        r.get("rapll")
    assert "nvml, rapl" in e.value.fix
    with pytest.raises(ValueError):
        r.add("rapl", 3)
