#!/usr/bin/env bash
# The recipe behind edge/model/, the default: face-api's expression network (imported, edge/models/faceapi)
# fine-tuned here on labelled real photos and FER-2013 rows, on a 2-core CPU (no GPU), in well under three hours.
# Every step resumes or is quick to redo: rerun the script after an interruption (a finished step is skipped, an
# interrupted `train fit` resumes after its last whole epoch).
#
# What each face is taught: 60% a teacher's probabilities on that face, 40% the photo's or the row's label. The web
# photos' teacher is face-api's network itself (it has seen millions of web photos; its soft labels and a low
# learning rate keep what it knows; the photos' own labels are noisy); FER-2013's rows are taught by vgg_wide, the
# zoo's FER-2013 model (face-api reads those 48x48 gray faces at 58%, vgg_wide at 71%), and cover the five emotions
# the photos are thin on. Photos are cut 1.15 times wider than face-api's crop (its best framing on real photos lies
# near 1.2), and augmentation moves, turns and scales that crop (0.83-1.25 of its side, with real pixels around it)
# and degrades it like a camera, so the model does not depend on one framing. Choices were made on the London half
# and the photos' validation subjects together with FER-2013's PublicTest, never on one set alone; PrivateTest was
# never used. A first run (face-api teaching every row, 30% of FER-2013 an epoch, learning rate 1e-4, photos cut at
# face-api's own crop) reached London 80% and PublicTest 58.2%: FER-2013 barely moved, hence this one.
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013.csv.gz}
PHOTOS=${PHOTOS:-../shared/real-faces/facial-expressions}
# face-api's weights and licence, as the npm package @vladmandic/face-api 1.7.15 ships them (kept in the repository
# for the importer's test; `npm pack @vladmandic/face-api@1.7.15` gives the same files, whose sha256 the contract
# records).
PACKAGE=${PACKAGE:-tests/fixtures/faceapi/package}
RUN=${RUN:-runs/default}

# 1. The imported network as a Keras model to start from.
[ -f runs/faceapi/model.keras ] || python -m convert faceapi --package "$PACKAGE" --out runs/faceapi

# 2. Each source's teacher, mirror-averaged, on every Training face (the photos cut as training cuts them, by the
#    framing of the Keras model step 1 wrote, as `fit --init-from` reads it).
mkdir -p "$RUN"
[ -f "$RUN/soft.npy" ] || python -m train teach --data "$PHOTOS" "$DATA" --skip-bad-rows --crop-scale 1.15 \
  --model runs/faceapi/model.keras edge/models/vgg_wide --per-source --out "$RUN/soft.npy"

# 3. The fine-tune: every photo and a fresh half of FER-2013's Training rows each epoch; 6 epochs of 4-5 minutes
#    each on 2 cores. Nine photos are skipped by name (Contempt, which the model does not have).
[ -f "$RUN/fit/model.keras" ] || python -m train fit --data "$PHOTOS" "$DATA" --mix 1 0.5 --skip-bad-rows \
  --crop-scale 1.15 --init-from runs/faceapi/model.keras --soft-labels "$RUN/soft.npy" --distill-weight 0.6 \
  --label-smoothing 0 --camera-augment --lr 0.0002 --schedule cosine --epochs 6 --patience 0 --batch-size 64 \
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
