#!/usr/bin/env bash
# The students of face-api's network, tried on this project's 2-core CPU (no GPU) and not shipped (docs/train.md,
# "The students of face-api's network"): edge_dense, face-api's expression network scaled to 48x48 gray, taught by
# two teachers: the previous default (vgg_wide, FER-2013's view of every face) for the targets, and face-api's
# network (web photos' view) for the split between Happy and Neutral, which FER-2013's labels get wrong for
# closed-mouth smiles. Selection used FER-2013 PublicTest only; the London photos were measured, never tuned on.
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013.csv.gz}

# 1. The teachers' mirror-averaged probabilities on every Training row (vgg_wide's float32 TFLite model; face-api's
#    Keras graph from `python -m convert faceapi`, each 48x48 row upscaled to 112x112 with gray in each channel).
python -m train teach --data "$DATA" --model edge/models/vgg_wide --out runs/teach_default.npy
python -m train teach --data "$DATA" --model runs/faceapi/model.keras --out runs/teach_faceapi.npy

# 2. The student: 70% vgg_wide, 30% label (itself 30% FER+ votes); then face-api divides each target's Happy+Neutral
#    share; cosine decay, seed 0. It was started with --epochs 28 and, at 300-500 s an epoch on the shared CPU,
#    stopped after epoch 2 and resumed by this same command with --epochs 22 (a resumed run keeps its optimizer and
#    so the 28-epoch schedule: its rate ended at 0.14 of the peak rather than 0). Run as written, it trains 22 epochs
#    on the 22-epoch schedule.
python -m train --data "$DATA" --soft-labels runs/teach_default.npy --distill-weight 0.7 --vote-weight 0.3 \
  --split-by runs/teach_faceapi.npy --schedule cosine --patience 0 --label-smoothing 0 --weight-decay 0.00005 \
  --lr 0.002 --epochs 22 --arch edge_dense --out runs/student_dense

# 3. Float32 + int8 TFLite with mirror averaging, and the whole pipeline on real photos.
python -m convert runs/student_dense/model.keras --data "$DATA" --flip-average --out runs/student_dense_model
python -m benchmarks --real-faces-only --model runs/student_dense_model --out bench/student_dense-real-faces
