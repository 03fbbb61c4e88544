"""The paper's seven metric columns (Tables 1 and 2), the registry name that computes each, and the
reference that defines it. ``--metrics paper`` selects them; pure data, so the CLI's help can list them."""

PAPER_METRICS: dict[str, tuple[str, str]] = {
    "Clarity": (
        "clarity_musiq",
        "VBench imaging_quality: MUSIQ trained on SPAQ (Ke et al., ICCV 2021; pyiqa), longer side > 512 px resized to 512, score / 100",
    ),
    "Aesthetic": (
        "aesthetic_clip",
        "VBench aesthetic_quality: LAION aesthetic predictor, a linear head on CLIP ViT-L/14 image embeddings, / 10",
    ),
    "Motion": (
        "motion_smoothness_amt",
        "VBench motion_smoothness: odd frames rebuilt from the even ones by AMT-S (Li et al., CVPR 2023), "
        "(255 - mean abs difference) / 255; frames >= 128 px (motion_smoothness interpolates along flow, weight-free)",
    ),
    "Dynamic": (
        "dynamic_degree_raft",
        "VBench dynamic_degree: RAFT flow (Teed & Deng, ECCV 2020) at ~8 fps, threshold 6 min(H, W) / 256",
    ),
    "Semantic": (
        "semantic_viclip",
        "VBench overall_consistency: ViCLIP (InternVid, Wang et al., ICLR 2024) video-text cosine, 8 middle frames at 224 px",
    ),
    "Anatomy": (
        "anatomy",
        "VBench-2.0 human_anatomy: SimMIM ViT-B classifiers judge detected people, faces and hands "
        "(YOLO-World in VBench-2.0; MTCNN faces here unless a detector is set), 1 - abnormal / people",
    ),
    "Identity": (
        "identity_facenet",
        "the paper's ArcFace (Deng et al., CVPR 2019) similarity of RetinaFace-detected faces to the first "
        "frame's, computed with torch equivalents: FaceNet (Schroff et al., CVPR 2015; VGGFace2) on MTCNN "
        "crops (facenet-pytorch); identity_arcface takes an ArcFace backend of one's own",
    ),
}


def paper_help() -> str:
    """One line per column: Column = metric (reference)."""
    return "; ".join(f"{col} = {name} ({ref})" for col, (name, ref) in PAPER_METRICS.items())
