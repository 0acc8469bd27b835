"""The 80 COCO class names in the order every COCO-trained YOLO (Darknet and Ultralytics) numbers them."""

from __future__ import annotations

from collections.abc import Iterable

COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# Darknet's coco.names spells a few classes differently; they mean the same thing.
ALIASES: dict[str, str] = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}


def canonical(name: str) -> str:
    """Return the COCO spelling of a class name (``motorbike`` -> ``motorcycle``)."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def class_ids(names: Iterable[str], labels: tuple[str, ...] = COCO_NAMES) -> list[int]:
    """Return the ids in ``labels`` of the given class names; a name that is not there raises ``KeyError``."""
    index = {label: i for i, label in enumerate(labels)}
    ids = []
    for name in names:
        key = canonical(name)
        if key not in index:
            raise KeyError(name)
        ids.append(index[key])
    return ids
