#!/usr/bin/env bash
# Install fer-edge on a Raspberry Pi (Raspberry Pi OS 64-bit, bookworm) from the copied edge/ folder.
# apt provides OpenCV and picamera2; a virtual environment made with --system-site-packages sees them,
# and pip adds the TFLite interpreter. Safe to run again. Every failure is one line and a non-zero exit.
#
#   edge/deploy/install-pi.sh [--dry-run] [--service [NAME]] [--mqtt] [--no-apt] [--no-yunet] [--venv DIR]
#
#   --dry-run   print what would be run (and the unit it would write), change nothing
#   --service   also install and start the systemd unit (edge/deploy/fer-edge.service); its options
#               (--serve, --mqtt, ...) go in fer-edge.env beside edge/, created once from edge/deploy/fer-edge.env
#   --service NAME  one service per camera: install the template fer-edge@.service and start fer-edge@NAME, whose
#               camera and options go in cameras/NAME.env beside edge/ (created once); run again for each camera
#   --mqtt      also install paho-mqtt, which --mqtt needs
#   --no-apt    skip apt (OpenCV then comes from pip, and there is no picamera2)
#   --no-yunet  leave out pip OpenCV 4.10, which the venv gets by default because apt's 4.6 cannot load YuNet:
#               the detector and --privacy's check are then Haar, which misses turned and rolled faces
#   --venv DIR  where the virtual environment goes (default: .venv beside edge/)
set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EDGE_DIR=$(dirname "$DEPLOY_DIR")
APP_DIR=$(dirname "$EDGE_DIR")
VENV=$APP_DIR/.venv
DRY_RUN=0
SERVICE=0
MQTT=0
APT=1
YUNET=1  # the services cover faces (FER_EDGE_PRIVACY=blur), and only YuNet's check finds non-frontal ones
YUNET_OPENCV=opencv-python-headless==4.10.0.84
UNIT=/etc/systemd/system/fer-edge.service
ENV_FILE=$APP_DIR/fer-edge.env
CAMERA=""  # --service NAME: one instance of the fer-edge@ template
UNIT_PREFIX=fer-edge@ UNIT_SUFFIX=.service
# What a folder named in a unit may hold: systemd splits ExecStart= at spaces and expands % and $ itself, and the
# unit is rendered with sed (| and & are its own)
SAFE_PATH='^/[A-Za-z0-9._/+-]*$'

say() { echo "install-pi: $*"; }
fail() { echo "install-pi: error: $*" >&2; exit 1; }
run() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ $*"
  else
    "$@" || fail "'$*' failed"
  fi
}

while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY_RUN=1 ;;
    --service)
      SERVICE=1
      if [ $# -ge 2 ] && [ "${2#-}" = "$2" ]; then
        [[ $2 =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] \
          || fail "--service $2: a camera's name is letters, digits, - and _ (it names the service, file and topics)"
        # systemd's unit names are at most 255 bytes, and this one is fer-edge@NAME.service
        [ ${#2} -le $((255 - ${#UNIT_PREFIX} - ${#UNIT_SUFFIX})) ] \
          || fail "--service ${2:0:40}...: a camera's name is at most $((255 - ${#UNIT_PREFIX} - ${#UNIT_SUFFIX})) characters (systemd's limit for $UNIT_PREFIX""NAME$UNIT_SUFFIX)"
        CAMERA=$2
        shift
      fi
      ;;
    --mqtt) MQTT=1 ;;
    --no-apt) APT=0 ;;
    --yunet) YUNET=1 ;;  # the default; still accepted
    --no-yunet) YUNET=0 ;;
    --venv) [ $# -ge 2 ] || fail "--venv needs a folder"; VENV=$(realpath -m -- "$2"); shift ;;  # the unit needs it absolute
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
  shift
done

if [ "$SERVICE" = 1 ]; then
  for folder in "$APP_DIR" "$VENV"; do
    [[ $folder =~ $SAFE_PATH ]] \
      || fail "$folder: a service's folders may hold only letters, digits and . _ - + / (systemd splits its command at spaces); move it, e.g. to ~/fer-edge"
  done
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
command -v python3 >/dev/null || fail "python3 not found: install Raspberry Pi OS (bookworm) or Debian 12"
if [ ! -f "$EDGE_DIR/model/contract.json" ] \
  || { [ ! -f "$EDGE_DIR/model/model_float32.tflite" ] && [ ! -f "$EDGE_DIR/model/model_int8.tflite" ]; }; then
  fail "$EDGE_DIR/model has no contract.json or no .tflite model: copy the whole edge/ folder"
fi
say "installing into $APP_DIR (virtual environment $VENV)$([ "$DRY_RUN" = 1 ] && echo ', dry run')"

if [ "$APT" = 1 ]; then
  command -v apt-get >/dev/null || fail "apt-get not found: use --no-apt on a system without apt"
  packages=(python3-venv python3-opencv opencv-data)  # opencv-data holds the Haar cascades
  if [ "$DRY_RUN" = 1 ] || apt-cache show python3-picamera2 >/dev/null 2>&1; then
    packages+=(python3-picamera2)
  else
    say "python3-picamera2 is not in this system's apt sources (not Raspberry Pi OS?): --source picam will be unavailable"
  fi
  run $SUDO apt-get install -y "${packages[@]}"
fi

if [ -x "$VENV/bin/python" ]; then
  say "reusing $VENV"
else
  run python3 -m venv --system-site-packages "$VENV"
fi

if [ "$DRY_RUN" = 0 ] && "$VENV/bin/python" -c "import cv2; cv2.CascadeClassifier" 2>/dev/null; then
  # apt's OpenCV is built against apt's numpy 1.x: keep that numpy, or pip's numpy 2 (wanted by the newest
  # ml_dtypes) would shadow it and break `import cv2`.
  numpy_version=$("$VENV/bin/python" -c "import numpy; print(numpy.__version__)")
  run "$VENV/bin/python" -m pip install --quiet ai-edge-litert "numpy==$numpy_version"
else
  run "$VENV/bin/python" -m pip install --quiet -r "$EDGE_DIR/requirements.txt"
fi

if [ "$MQTT" = 1 ]; then
  run "$VENV/bin/python" -m pip install --quiet "paho-mqtt>=2,<3"
fi

if [ "$YUNET" = 1 ]; then
  if [ "$DRY_RUN" = 0 ] && (cd "$APP_DIR" && "$VENV/bin/python" -c "from edge.detectors.yunet import check_opencv; check_opencv()") 2>/dev/null; then
    say "this venv's OpenCV already runs YuNet"
  else
    # OpenCV 4.10 is the newest pip OpenCV built against numpy 1.x: keep apt's numpy, which picamera2 needs.
    keep_numpy="numpy<2"
    [ "$DRY_RUN" = 1 ] || keep_numpy="numpy==$("$VENV/bin/python" -c "import numpy; print(numpy.__version__)")"
    run "$VENV/bin/python" -m pip install --quiet "$YUNET_OPENCV" "$keep_numpy"
  fi
fi

say "checking the model and face detection on the built-in demo clip"
detectors=(haar)
[ "$YUNET" = 0 ] || detectors+=(yunet)
for detector in "${detectors[@]}"; do
  (cd "$APP_DIR" && run "$VENV/bin/python" -m edge --source demo --demo-frames 10 --quiet --detector "$detector") \
    || fail "the demo check failed; run: cd $APP_DIR && $VENV/bin/python -m edge --source demo --detector $detector"
done

if [ "$DRY_RUN" = 1 ]; then
  echo "+ $VENV/bin/python -m edge --source picam --max-frames 10 --quiet   (if a Pi camera is connected)"
elif "$VENV/bin/python" -c "from picamera2 import Picamera2; assert Picamera2.global_camera_info()" 2>/dev/null; then
  (cd "$APP_DIR" && run "$VENV/bin/python" -m edge --source picam --max-frames 10 --quiet)
else
  say "no Pi camera found (or no picamera2): skipped the camera check"
fi

if [ "$SERVICE" = 1 ]; then
  user=${SUDO_USER:-$(id -un)}
  id "$user" >/dev/null 2>&1 || fail "the service's user $user (SUDO_USER) does not exist here; run this as that user"
  group=$(id -gn "$user")
  unit_source=$DEPLOY_DIR/fer-edge.service env_source=$DEPLOY_DIR/fer-edge.env service=fer-edge
  results=$APP_DIR/results/fer-edge.jsonl
  if [ -n "$CAMERA" ]; then  # one instance of the template per camera, each with its own env file
    UNIT=/etc/systemd/system/fer-edge@.service ENV_FILE=$APP_DIR/cameras/$CAMERA.env service=fer-edge@$CAMERA
    unit_source=$DEPLOY_DIR/fer-edge@.service env_source=$DEPLOY_DIR/fer-edge-camera.env
    results=$APP_DIR/results/$CAMERA.jsonl
  fi
  # Owned by the service's user, also under sudo: the service writes its results there, and the user edits the env
  run install -d -o "$user" -g "$group" "$APP_DIR/results" "$(dirname "$ENV_FILE")"
  if [ -f "$ENV_FILE" ]; then
    say "keeping your $ENV_FILE"
  else
    # 600: it may hold a token, a broker's or a camera's password
    run install -m 600 -o "$user" -g "$group" "$env_source" "$ENV_FILE"
  fi
  # The template's comment lines keep their @NAMES@: they say what was filled in, not the values
  render_unit() { sed -e "/^#/!s|@USER@|$user|g" -e "/^#/!s|@APP_DIR@|$APP_DIR|g" -e "/^#/!s|@VENV@|$VENV|g" "$unit_source"; }
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ write $UNIT from $unit_source:"
    render_unit | sed 's/^/    /'
  else
    render_unit | $SUDO tee "$UNIT" >/dev/null || fail "could not write $UNIT"
  fi
  run $SUDO systemctl daemon-reload
  run $SUDO systemctl enable --now "$service.service"
  say "service installed: journalctl -u $service -f (log), $results (results)"
  say "options (camera, live view, MQTT): edit $ENV_FILE, then: sudo systemctl restart $service"
fi

say "done. Next: cd $APP_DIR && $VENV/bin/python -m edge --source picam --show   (or --source 0 for a USB webcam)"
