#!/usr/bin/env bash
# The recipe behind edge/models/fast/: edge_vgg_small distilled from the shipped default (its converted folder
# teaches: no .keras needed), with FER+'s votes mixed into the labels, on this project's 2-core CPU (no GPU).
# Selection used FER-2013 PublicTest only. Wall time: see the card's Training section (from history.csv).
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013.csv.gz}

# 1. The default's mirror-averaged probabilities on every Training row (its float32 TFLite model).
python -m train teach --data "$DATA" --model edge/model --out runs/teach_default.npy

# 2. The student: 70% teacher, 30% label, the label itself 30% FER+ votes; 40 epochs of cosine decay, seed 0.
#    (edge_vgg_mid, the same recipe for 30 epochs without mirror averaging, reached 66.43% PublicTest: not kept.)
python -m train --data "$DATA" --arch edge_vgg_small --soft-labels runs/teach_default.npy --distill-weight 0.7 \
  --vote-weight 0.3 --schedule cosine --epochs 40 --patience 0 --label-smoothing 0 --weight-decay 0.00005 \
  --lr 0.002 --out runs/fast_a

# 3. Float32 + int8 TFLite; the runtime averages each face with its mirror (two small invokes cost about a fifth
#    of the default's two).
python -m convert runs/fast_a/model.keras --data "$DATA" --flip-average --out edge/models/fast

# 4. The whole pipeline on real photos, then the card.
python -m benchmarks --real-faces-only --model edge/models/fast --out bench/fast-real-faces
python -m convert card --run runs/fast_a --models edge/models/fast --recipe train/recipes/fast.sh \
  --data "$DATA" --hardware "a 2-core AMD EPYC CPU (TensorFlow 2.21, no GPU), shared with other jobs" \
  --real-faces bench/fast-real-faces/results.json
