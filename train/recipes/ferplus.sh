#!/usr/bin/env bash
# A recipe for a FER+ model (FER+'s eight labels, contempt included), trained on each face's annotator vote
# distribution, on this project's 2-core CPU (no GPU). Selection used FER+ PublicTest only. Its output was meant to
# ship as edge/models/ferplus/ but an ignore rule kept it out of git; the zoo now holds default, fast, faceapi and
# vgg_wide (this round's CPU time went to the face-api student), and this recipe still writes that folder.
# Wall time on the 2-core AMD EPYC shared with other jobs: see the card's Training section (from history.csv).
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013.csv.gz}

# 1. edge_vgg (1.2 M parameters) on the FER+ vote distributions, 30 epochs of cosine decay, seed 0. The run was
#    killed once after epoch 5 and resumed by the same command.
python -m train --data "$DATA" --labels ferplus --soft-targets --arch edge_vgg --epochs 30 --schedule cosine \
  --patience 0 --out runs/ferplus_vgg_base

# 2. Where each detector's box falls on the training faces, into the run's contract (newer runs write it themselves).
python -m train framing --data "$DATA" --into runs/ferplus_vgg_base

# 3. Float32 + int8 TFLite, checked against Keras on FER+ labels; the runtime averages each face with its mirror.
python -m convert runs/ferplus_vgg_base/model.keras --data "$DATA" --labels ferplus --flip-average \
  --out edge/models/ferplus

# 4. The whole pipeline on real photos, then the card.
python -m benchmarks --real-faces-only --model edge/models/ferplus --out bench/ferplus-real-faces
python -m convert card --run runs/ferplus_vgg_base --models edge/models/ferplus --recipe train/recipes/ferplus.sh \
  --data "$DATA" --hardware "a 2-core AMD EPYC CPU (TensorFlow 2.21, no GPU), shared with other jobs" \
  --real-faces bench/ferplus-real-faces/results.json
