import subprocess
import sys


def test_cli_import_and_config_validation_do_not_import_torch():
    code = (
        "import sys, wattcut.cli, wattcut.experiment, wattcut.compress;"
        "wattcut.experiment.load_experiment('examples/default.toml');"
        "heavy = [m for m in ('torch', 'transformers', 'onnxruntime', 'openvino') if m in sys.modules];"
        "print(heavy); sys.exit(bool(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_wattcut_and_its_api_stays_light():
    code = (
        "import sys, wattcut; wattcut.measure, wattcut.load_study, wattcut.run_study;"
        "heavy = [m for m in ('torch', 'transformers', 'onnxruntime', 'openvino', 'mlflow') if m in sys.modules];"
        "print(heavy); sys.exit(bool(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
