"""`python -m train`: train the expression models on FER-2013 (and FER+)."""

from edge.common.limits import cap_image_decoding

cap_image_decoding()  # first: OpenCV reads its decode cap once, when cv2 loads (edge/common/images.py)
