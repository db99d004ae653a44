#!/usr/bin/env bash
# The recipe behind edge/model/, the default: face-api's expression network (imported, edge/models/faceapi)
# fine-tuned here on labelled real photos and FER-2013 rows, on a 2-core CPU (no GPU), in well under three hours.
# Every step resumes or is quick to redo: rerun the script after an interruption (a finished step is skipped, an
# interrupted `train fit` resumes after its last whole epoch).
#
# What each face is taught: half face-api's own probabilities on that face (it has seen millions of web photos; a
# low learning rate and its soft labels keep what it knows), half the photo's or the row's label (the photos'
# labels are noisy; FER-2013 covers the five emotions the photos are thin on). Augmentation moves, turns and scales
# the crop (0.8-1.25 of its side, with real pixels around it) and degrades it like a camera, so the model does not
# depend on one framing. Choices were made on the London half and the photos' validation subjects together with
# FER-2013's PublicTest, never on one set alone; PrivateTest was never used.
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013.csv.gz}
PHOTOS=${PHOTOS:-../shared/real-faces/facial-expressions}
# face-api's weights and licence, as the npm package @vladmandic/face-api 1.7.15 ships them (kept in the repository
# for the importer's test; `npm pack @vladmandic/face-api@1.7.15` gives the same files, whose sha256 the contract
# records).
PACKAGE=${PACKAGE:-tests/fixtures/faceapi/package}
RUN=runs/default

# 1. The imported network as a Keras model to start from.
[ -f runs/faceapi/model.keras ] || python -m convert faceapi --package "$PACKAGE" --out runs/faceapi

# 2. face-api's mirror-averaged probabilities on every Training face of both sources (the photos cut as the device
#    cuts them), the teacher's share of each target.
mkdir -p "$RUN"
[ -f "$RUN/faceapi_soft.npy" ] || python -m train teach --data "$PHOTOS" "$DATA" --skip-bad-rows \
  --model edge/models/faceapi --out "$RUN/faceapi_soft.npy"

# 3. The fine-tune: every photo and a fresh 30% of FER-2013's Training rows each epoch; 6 epochs of about 5
#    minutes each on 2 cores. Nine photos are skipped by name (Contempt, which the model does not have).
[ -f "$RUN/fit/model.keras" ] || python -m train fit --data "$PHOTOS" "$DATA" --mix 1 0.3 --skip-bad-rows \
  --init-from runs/faceapi/model.keras --soft-labels "$RUN/faceapi_soft.npy" --distill-weight 0.5 \
  --label-smoothing 0 --camera-augment --lr 0.0001 --schedule cosine --epochs 6 --patience 0 --batch-size 64 \
  --workers 2 --out "$RUN/fit"

# 4. Float32 and int8, checked against Keras on FER-2013; int8 ships only where it gives float32's top label on
#    97% of the photos' faces (else the folder holds float32 alone, and the card says why).
python -m convert "$RUN/fit/model.keras" --data "$DATA" --out edge/model --calibration-size 1000 \
  --min-agreement 0.9 --photos "$PHOTOS"

# 5. The framing: the crop scale with the best mean accuracy on the London half and the photos' validation
#    subjects, through the whole pipeline, written into the contract.
python -m benchmarks --model edge/model --set-framing --out bench/default-framing

# 6. The whole pipeline on the London half, then the card.
python -m benchmarks --real-faces-only --model edge/model --out bench/default-real-faces
python -m convert card --run "$RUN/fit" --model edge/model --recipe train/recipes/default.sh --data "$DATA" \
  --hardware "a 2-core AMD EPYC CPU (TensorFlow, no GPU)" --real-faces bench/default-real-faces/results.json \
  --license "$PACKAGE/LICENSE" \
  --credit "It was fine-tuned from face-api's expression network (@vladmandic/face-api 1.7.15, MIT; its notice is LICENSE in this folder)." \
  --credit "The labelled photos are muxspace/facial_expressions (Apache License 2.0), mostly from Labeled Faces in the Wild."
