"""`python -m convert`: Keras to TFLite float32 and int8, and the face-api importer."""

from edge.common.limits import cap_image_decoding

cap_image_decoding()  # first: OpenCV reads its decode cap once, when cv2 loads (edge/common/images.py)
