#!/usr/bin/env bash
# Serves saved_models/ with the stock TF Serving image (REST on 8501, gRPC on 8500).
# The export's graph uses tensorflow-text ops (FastBertNormalize, FastWordpieceTokenizeWithOffsets:
# `kbk export` prints the list), which the stock tensorflow/serving image registers since 2.x
# releases built with the tf-text ops; pick the image tag matching TensorFlow 2.21.
# TF_ENABLE_ONEDNN_OPTS=1: TF leaves oneDNN off on AVX2 CPUs; there MiniLM text -> probabilities
# served in 0.83x the time at batch 32 with it on (bench/results_cpu_paths.md). On AVX-512/AMX
# CPUs it is TF's default anyway. Override with TF_ENABLE_ONEDNN_OPTS=0 in the caller's env.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
docker run --rm -p 8500:8500 -p 8501:8501 \
  -e TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}" \
  -v "$here/saved_models:/models" \
  -v "$here/serving/models.config:/models/models.config:ro" \
  -v "$here/serving/batching.config:/models/batching.config:ro" \
  tensorflow/serving:2.21.0 \
  --model_config_file=/models/models.config \
  --enable_batching=true --batching_parameters_file=/models/batching.config \
  --enable_model_warmup=true
