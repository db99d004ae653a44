"""`python -m benchmarks`: what the edge pipeline costs and how good it is, measured on this machine."""

from edge.common.limits import cap_image_decoding

cap_image_decoding()  # first: OpenCV reads its decode cap once, when cv2 loads (edge/common/images.py)
