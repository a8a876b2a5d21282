"""oneclass: one-class novelty and anomaly detection on images and video.

    det = oneclass.create("ae", seed=0)
    det.fit(train_images)               # normal images only
    scores = det.score(test_images)     # Scores: name -> array, higher = more anomalous
    det.save("run/model"); det = oneclass.load("run/model")
"""

__version__ = "0.1.0"

from oneclass import methods  # noqa: E402,F401  (registers the detectors)
from oneclass.detector import Detector, Scores, available, create, load  # noqa: E402

__all__ = ["Detector", "Scores", "available", "create", "load", "__version__"]
