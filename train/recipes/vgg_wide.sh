#!/usr/bin/env bash
# The recipe behind edge/models/vgg_wide/, the shipped default until face-api's imported network replaced it
# (faceapi.sh); it was built into edge/model/ and moved here unchanged. Eight teachers, their ensemble's
# probabilities, one distilled student, then conversion with mirror averaging. Selection used PublicTest only.
# It ran on one H100 with KERAS_BACKEND=jax, four trainings at a time (about 6 minutes each); the same
# commands run on a CPU with TensorFlow, only slower (measure an epoch first).
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013.csv.gz}
COSINE="--optimizer adam --lr 0.001 --schedule cosine --patience 0 --workers 4"
SGD="--optimizer sgd --lr 0.02 --schedule cosine --patience 0 --weight-decay 0.0005 --workers 4"

# 1. Teachers (PublicTest accuracy 67.7-68.7% each, 71.0% as a mirror-averaged ensemble).
python -m train --data "$DATA" --out runs/teachers/vgg_adam --arch edge_vgg $COSINE --epochs 63
python -m train --data "$DATA" --out runs/teachers/deep_adam --arch edge_vgg_deep $COSINE --epochs 63
python -m train --data "$DATA" --out runs/teachers/vgg_sgd --arch edge_vgg $SGD --epochs 63
python -m train --data "$DATA" --out runs/teachers/deep_sgd --arch edge_vgg_deep $SGD --epochs 63
python -m train --data "$DATA" --out runs/teachers/deep_mix2 --arch edge_vgg_deep $COSINE --epochs 72 --mixup 0.2
python -m train --data "$DATA" --out runs/teachers/deep_mix2_nocw --arch edge_vgg_deep $COSINE --epochs 72 \
  --mixup 0.2 --class-weight none
python -m train --data "$DATA" --out runs/teachers/wide_mix2 --arch edge_vgg_wide $COSINE --epochs 72 --mixup 0.2
python -m train --data "$DATA" --out runs/teachers/deep_mix4_lr2 --arch edge_vgg_deep --optimizer adam --lr 0.002 \
  --schedule cosine --patience 0 --workers 4 --epochs 72 --mixup 0.4

# 2. The teachers' mirror-averaged probabilities on every Training row.
python -m train teach --data "$DATA" --model runs/teachers/*/model.keras --out runs/teachers/soft.npy

# 3. The student: 70% teacher probabilities, 30% FER-2013 label.
python -m train --data "$DATA" --out runs/edge_default --arch edge_vgg_wide $COSINE --epochs 85 \
  --soft-labels runs/teachers/soft.npy --distill-weight 0.7 --label-smoothing 0

# 4. Float32 + int8 TFLite, checked against Keras; the runtime averages each face with its mirror.
python -m convert runs/edge_default/model.keras --data "$DATA" --out edge/models/vgg_wide --flip-average
