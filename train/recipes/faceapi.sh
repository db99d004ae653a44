#!/usr/bin/env bash
# The recipe behind edge/models/faceapi/, the imported reference (the default, edge/model/, is fine-tuned from it by
# default.sh): face-api's face-expression network (npm @vladmandic/face-api 1.7.15, MIT; trained by its authors on
# web photos) imported as it is, then converted like any model. No training here.
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013.csv.gz}
PACKAGE=${PACKAGE:-runs/faceapi_npm/package}

# 1. The package, unpacked (the registry is the only download; nothing is fetched at run time).
mkdir -p "$(dirname "$PACKAGE")"
(cd "$(dirname "$PACKAGE")" && npm pack @vladmandic/face-api@1.7.15 && tar xzf vladmandic-face-api-1.7.15.tgz)

# 2. Its graph rebuilt in Keras with its weights (the sha256 of each file goes into the contract).
python -m convert faceapi --package "$PACKAGE" --out runs/faceapi

# 3. Float32 + int8 TFLite, checked against Keras on FER-2013 (its rows upscaled to 112x112, gray in each channel);
#    no mirror averaging: the reference implementation classifies each face once. On those small gray faces int8
#    agreed with Keras on 94.3% of PublicTest (500 calibration rows) at the same accuracy (58.6% against 58.0%):
#    the network's answers there are close calls. So the agreement floor is 93% and calibration takes 1000 rows;
#    on colour crops the parity test asks int8 for the reference's top label on at least 95%.
python -m convert runs/faceapi/model.keras --data "$DATA" --out edge/models/faceapi --min-agreement 0.93 \
  --calibration-size 1000

# 4. The framing: the crop scale with the best mean accuracy on the London half and the web photos' validation
#    subjects, through the whole pipeline, written into the contract.
python -m benchmarks --model edge/models/faceapi --set-framing --out bench/faceapi-framing

# 5. The whole pipeline on real photos, then the card and the package's MIT notice.
python -m benchmarks --real-faces-only --model edge/models/faceapi --out bench/faceapi-real-faces
python -m convert card --model edge/models/faceapi --recipe train/recipes/faceapi.sh --license "$PACKAGE/LICENSE" \
  --real-faces bench/faceapi-real-faces/results.json
