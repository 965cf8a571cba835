#!/usr/bin/env bash
# Installs everything Ponder needs on Debian 12 (Debian and PyPI packages), builds the release
# binary and fetches the default model and the Qwen2 vocabulary the tests use. Idempotent: run it
# again at any time; what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(build-essential cmake ninja-build pkg-config git python3 python3-pip
  nlohmann-json3-dev libcli11-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcurl4-openssl-dev libssl-dev libedit-dev libboost1.81-dev
  chromium)  # chromium: the browser the chat page's tests drive (through playwright)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

# Python packages for tools and tests. llama-cpp-python builds llama.cpp from source (several
# minutes the first time); it is the peer the model tests compare against.
if ! python3 - <<'PY' 2>/dev/null
import importlib, sys
for m in ["numpy", "gguf", "safetensors", "jinja2", "tokenizers", "transformers", "torch", "openai", "llama_cpp",
          "playwright"]:
    importlib.import_module(m)
PY
then
  echo "setup: installing Python packages from tools/requirements.txt"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" python3 -m pip install -q --disable-pip-version-check -r tools/requirements.txt
fi

cmake --preset release >/dev/null
cmake --build --preset release

# The Qwen2 vocabulary (QwQ, Qwen2.5, R1-Distill-Qwen) for the tokenizer's real-vocabulary tests.
python3 tools/fetch_qwen2_vocab.py >/dev/null
model=$(python3 tools/fetch_default_model.py | tail -n 1)
echo "setup: ready. Default model: $model"
echo "setup: try ./build/release/ponder chat"
