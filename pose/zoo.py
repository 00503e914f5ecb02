"""The published checkpoints of the two seed model zoos, as data.

Every entry names the architecture preset it fits, its input size and joint layout, where to get
it (URL + SHA-256 prefix, or the page hosting it when there is no direct link), the channel order
the network was trained on, and the accuracy its zoo reports. Names are
``<arch>_<dataset>_<HxW>`` for mmpose 0.x files (directly downloadable, the defaults), with the
suffix ``_mmpose1`` for mmpose 1.x files and ``_official`` for the official HRNet / SimpleBaseline
repositories' files (hosted on Google Drive / OneDrive: download by hand, pass the path).

Sources: mmpose ``0.x`` branch (3b817346) and ``main`` (759b39c1) model-zoo pages; the READMEs and
experiment configs of leoxiaobin/deep-high-resolution-net.pytorch (6f69e467) and
microsoft/human-pose-estimation.pytorch (49f3f445).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .downloads import hash_prefix_from_name

HRNET_OFFICIAL_PAGE = "https://drive.google.com/drive/folders/1hOTihvbyIxsm5ygDpbUuJ7O_tzv4oXjC"
SIMPLEBASELINE_OFFICIAL_PAGE = ("https://drive.google.com/drive/folders/"
                                "13_wJ6nC7my1KKouMkQMqyr9r1ZnLnukP")


@dataclass(frozen=True)
class PublishedWeights:
    """One zoo entry: published weights, where to get their file and what they fit.

    Attributes:
        name: zoo name.
        arch: preset of the architecture (``hrnet_w32``, ``pose_resnet_50``...).
        dataset: ``coco``, ``posetrack18``, ``mpii``, ``crowdpose`` or ``aic``.
        input_size: ``(height, width)`` pixels the network was trained at.
        num_joints: heatmap channels.
        url: direct download link, or None for files behind a web page (see ``page``).
        format: ``mmpose-0.x``, ``mmpose-1.x`` or ``official``.
        color: channel order the network expects, ``"rgb"`` or ``"bgr"`` (official SimpleBaseline
            configs feed OpenCV's BGR); all use ImageNet mean/std in that stored order.
        metrics: ``(what, value)`` pairs as the zoo reports them, in percent.
        filename: file name (from the URL when there is one).
        page: where a file without direct link is hosted.
    """

    name: str
    arch: str
    dataset: str
    input_size: Tuple[int, int]
    num_joints: int
    url: Optional[str]
    format: str
    color: str
    metrics: Tuple[Tuple[str, float], ...]
    filename: str = ""
    page: Optional[str] = None

    def __post_init__(self) -> None:
        if not self.filename and self.url:
            object.__setattr__(self, "filename", self.url.rsplit("/", 1)[-1])

    @property
    def sha256(self) -> Optional[str]:
        """SHA-256 prefix the downloaded file must have (from the published file name)."""
        return hash_prefix_from_name(self.filename) if self.url else None

    @property
    def keypoints(self) -> str:
        """Joint layout name: the dataset's, COCO's for COCO-17 layouts."""
        return {"posetrack18": "posetrack18", "mpii": "mpii", "crowdpose": "crowdpose",
                "aic": "aic"}.get(self.dataset, "coco")


_MM0 = "https://download.openmmlab.com/mmpose/top_down/"
_MM1 = "https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco/"
COCO_AP = "COCO val2017 AP (AP56.4 person detections)"
PT18_GT = "PoseTrack18 val mAP (GT boxes)"
PT18_DET = "PoseTrack18 val mAP (Cascade R-CNN detections)"
MPII_PCKH = "MPII val PCKh@0.5"
OCHUMAN_AP = "OCHuman test AP (GT boxes)"
CROWDPOSE_AP = "CrowdPose test AP (YOLOv3 detections)"
AIC_AP = "AIC val AP (GT boxes)"

_SIZES = {"256x192": (256, 192), "384x288": (384, 288), "256x256": (256, 256),
          "320x256": (320, 256), "384x384": (384, 384)}
_JOINTS = {"coco": 17, "posetrack18": 17, "mpii": 16, "crowdpose": 14, "aic": 14}

# (arch, dataset, size, file under _MM0, metrics)
_MMPOSE_0X = [
    ("hrnet_w32", "coco", "256x192", "hrnet/hrnet_w32_coco_256x192-c78dce93_20200708.pth",
     ((COCO_AP, 74.6), (OCHUMAN_AP, 59.1))),
    ("hrnet_w32", "coco", "384x288", "hrnet/hrnet_w32_coco_384x288-d9f0d786_20200708.pth",
     ((COCO_AP, 76.0), (OCHUMAN_AP, 60.6))),
    ("hrnet_w48", "coco", "256x192", "hrnet/hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth",
     ((COCO_AP, 75.6), (OCHUMAN_AP, 61.1))),
    ("hrnet_w48", "coco", "384x288", "hrnet/hrnet_w48_coco_384x288-314c8528_20200708.pth",
     ((COCO_AP, 76.7), (OCHUMAN_AP, 61.6))),
    ("pose_resnet_50", "coco", "256x192", "resnet/res50_coco_256x192-ec54d7f3_20200709.pth",
     ((COCO_AP, 71.8), (OCHUMAN_AP, 54.6))),
    ("pose_resnet_50", "coco", "384x288", "resnet/res50_coco_384x288-e6f795e9_20200709.pth",
     ((COCO_AP, 73.1), (OCHUMAN_AP, 53.9))),
    ("pose_resnet_101", "coco", "256x192", "resnet/res101_coco_256x192-6e6babf0_20200708.pth",
     ((COCO_AP, 72.6), (OCHUMAN_AP, 55.9))),
    ("pose_resnet_101", "coco", "384x288", "resnet/res101_coco_384x288-8c71bdc9_20200709.pth",
     ((COCO_AP, 74.8), (OCHUMAN_AP, 57.1))),
    ("pose_resnet_152", "coco", "256x192", "resnet/res152_coco_256x192-f6e307c2_20200709.pth",
     ((COCO_AP, 73.5), (OCHUMAN_AP, 57.0))),
    ("pose_resnet_152", "coco", "384x288", "resnet/res152_coco_384x288-3860d4c9_20200709.pth",
     ((COCO_AP, 75.0), (OCHUMAN_AP, 58.2))),
    ("hrnet_w32", "posetrack18", "256x192",
     "hrnet/hrnet_w32_posetrack18_256x192-1ee951c4_20201028.pth",
     ((PT18_GT, 83.0), (PT18_DET, 76.9))),
    ("hrnet_w32", "posetrack18", "384x288",
     "hrnet/hrnet_w32_posetrack18_384x288-806f00a3_20211130.pth",
     ((PT18_GT, 83.6), (PT18_DET, 77.3))),
    ("hrnet_w48", "posetrack18", "256x192",
     "hrnet/hrnet_w48_posetrack18_256x192-b5d9b3f1_20211130.pth",
     ((PT18_GT, 84.4), (PT18_DET, 77.4))),
    ("hrnet_w48", "posetrack18", "384x288",
     "hrnet/hrnet_w48_posetrack18_384x288-5fd6d3ff_20211130.pth",
     ((PT18_GT, 84.5), (PT18_DET, 77.8))),
    ("pose_resnet_50", "posetrack18", "256x192",
     "resnet/res50_posetrack18_256x192-a62807c7_20201028.pth",
     ((PT18_GT, 81.0), (PT18_DET, 75.2))),
    ("hrnet_w32", "mpii", "256x256", "hrnet/hrnet_w32_mpii_256x256-6c4f923f_20200812.pth",
     ((MPII_PCKH, 90.0),)),
    ("hrnet_w48", "mpii", "256x256", "hrnet/hrnet_w48_mpii_256x256-92cab7bd_20200812.pth",
     ((MPII_PCKH, 90.1),)),
    ("pose_resnet_50", "mpii", "256x256", "resnet/res50_mpii_256x256-418ffc88_20200812.pth",
     ((MPII_PCKH, 88.2),)),
    ("pose_resnet_101", "mpii", "256x256", "resnet/res101_mpii_256x256-416f5d71_20200812.pth",
     ((MPII_PCKH, 88.8),)),
    ("pose_resnet_152", "mpii", "256x256", "resnet/res152_mpii_256x256-3ecba29d_20200812.pth",
     ((MPII_PCKH, 88.9),)),
    ("hrnet_w32", "crowdpose", "256x192",
     "hrnet/hrnet_w32_crowdpose_256x192-960be101_20201227.pth", ((CROWDPOSE_AP, 67.5),)),
    ("pose_resnet_50", "crowdpose", "256x192",
     "resnet/res50_crowdpose_256x192-c6a526b6_20201227.pth", ((CROWDPOSE_AP, 63.7),)),
    ("pose_resnet_101", "crowdpose", "256x192",
     "resnet/res101_crowdpose_256x192-8f5870f4_20201227.pth", ((CROWDPOSE_AP, 64.7),)),
    ("pose_resnet_101", "crowdpose", "320x256",
     "resnet/res101_crowdpose_320x256-c88c512a_20201227.pth", ((CROWDPOSE_AP, 66.1),)),
    ("pose_resnet_152", "crowdpose", "256x192",
     "resnet/res152_crowdpose_256x192-dbd49aba_20201227.pth", ((CROWDPOSE_AP, 65.6),)),
    ("hrnet_w32", "aic", "256x192", "hrnet/hrnet_w32_aic_256x192-30a4e465_20200826.pth",
     ((AIC_AP, 32.3),)),
    ("pose_resnet_101", "aic", "256x192", "resnet/res101_aic_256x192-79b35445_20200826.pth",
     ((AIC_AP, 29.4),)),
]

# (arch, size, file under _MM1, COCO AP). The 1.x zoo publishes no distinct ResNet-101 384x288
# file (its page links the 256x192 one), and HRNet-W32's page and metafile disagree (74.9/74.6,
# 76.1/76.0): the metafile values are given.
_MMPOSE_1X = [
    ("hrnet_w32", "256x192", "td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth", 74.6),
    ("hrnet_w32", "384x288", "td-hm_hrnet-w32_8xb64-210e_coco-384x288-ca5956af_20220909.pth", 76.0),
    ("hrnet_w48", "256x192", "td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth", 75.6),
    ("hrnet_w48", "384x288", "td-hm_hrnet-w48_8xb32-210e_coco-384x288-c161b7de_20220915.pth", 76.7),
    ("pose_resnet_50", "256x192", "td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth", 71.8),
    ("pose_resnet_50", "384x288", "td-hm_res50_8xb64-210e_coco-384x288-7b8db90e_20220923.pth", 73.1),
    ("pose_resnet_101", "256x192", "td-hm_res101_8xb64-210e_coco-256x192-065d3625_20220926.pth",
     72.8),
    ("pose_resnet_152", "256x192", "td-hm_res152_8xb32-210e_coco-256x192-0345f330_20220928.pth",
     73.6),
    ("pose_resnet_152", "384x288", "td-hm_res152_8xb32-210e_coco-384x288-7fbb906f_20220927.pth",
     75.0),
]

# (arch, dataset, size, file name, metric, value, page). HRNet files are trained on RGB, the
# ResNet files of both official repositories on BGR.
_OFFICIAL = [
    ("hrnet_w32", "coco", "256x192", "pose_hrnet_w32_256x192.pth", COCO_AP, 74.4),
    ("hrnet_w32", "coco", "384x288", "pose_hrnet_w32_384x288.pth", COCO_AP, 75.8),
    ("hrnet_w48", "coco", "256x192", "pose_hrnet_w48_256x192.pth", COCO_AP, 75.1),
    ("hrnet_w48", "coco", "384x288", "pose_hrnet_w48_384x288.pth", COCO_AP, 76.3),
    ("hrnet_w32", "mpii", "256x256", "pose_hrnet_w32_256x256.pth", MPII_PCKH, 90.3),
    ("pose_resnet_50", "coco", "256x192", "pose_resnet_50_256x192.pth.tar", COCO_AP, 70.4),
    ("pose_resnet_50", "coco", "384x288", "pose_resnet_50_384x288.pth.tar", COCO_AP, 72.2),
    ("pose_resnet_101", "coco", "256x192", "pose_resnet_101_256x192.pth.tar", COCO_AP, 71.4),
    ("pose_resnet_101", "coco", "384x288", "pose_resnet_101_384x288.pth.tar", COCO_AP, 73.6),
    ("pose_resnet_152", "coco", "256x192", "pose_resnet_152_256x192.pth.tar", COCO_AP, 72.0),
    ("pose_resnet_152", "coco", "384x288", "pose_resnet_152_384x288.pth.tar", COCO_AP, 74.3),
    ("pose_resnet_50", "mpii", "256x256", "pose_resnet_50_256x256.pth.tar", MPII_PCKH, 88.5),
    ("pose_resnet_101", "mpii", "256x256", "pose_resnet_101_256x256.pth.tar", MPII_PCKH, 89.1),
    ("pose_resnet_152", "mpii", "256x256", "pose_resnet_152_256x256.pth.tar", MPII_PCKH, 89.6),
]


def _build_zoo() -> Dict[str, PublishedWeights]:
    entries = []
    for arch, dataset, size, path, metrics in _MMPOSE_0X:
        entries.append(PublishedWeights(f"{arch}_{dataset}_{size}", arch, dataset,
                                        _SIZES[size], _JOINTS[dataset], _MM0 + path,
                                        "mmpose-0.x", "rgb", metrics))
    for arch, size, path, ap in _MMPOSE_1X:
        entries.append(PublishedWeights(f"{arch}_coco_{size}_mmpose1", arch, "coco",
                                        _SIZES[size], 17, _MM1 + path, "mmpose-1.x", "rgb",
                                        ((COCO_AP, ap),)))
    for arch, dataset, size, filename, metric, value in _OFFICIAL:
        hrnet = arch.startswith("hrnet")
        entries.append(PublishedWeights(
            f"{arch}_{dataset}_{size}_official", arch, dataset, _SIZES[size], _JOINTS[dataset],
            None, "official", "rgb" if hrnet else "bgr", ((metric, value),), filename=filename,
            page=HRNET_OFFICIAL_PAGE if hrnet else SIMPLEBASELINE_OFFICIAL_PAGE))
    return {entry.name: entry for entry in entries}


_ZOO = _build_zoo()


def list_published(dataset: Optional[str] = None) -> List[str]:
    """Names of the published weights, optionally of one dataset."""
    return sorted(n for n, c in _ZOO.items() if dataset is None or c.dataset == dataset)


def is_published(name: str) -> bool:
    """Whether ``name`` names published weights of the zoo."""
    return name in _ZOO


def get_published(name: str) -> PublishedWeights:
    """The zoo entry ``name``."""
    try:
        return _ZOO[name]
    except KeyError:
        raise KeyError(f"unknown checkpoint {name!r}; known: {', '.join(list_published())}"
                       ) from None


def find_by_url(url: str) -> Optional[PublishedWeights]:
    """The zoo entry published at ``url``, if any."""
    return next((c for c in _ZOO.values() if c.url == url), None)
