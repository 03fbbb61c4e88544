"""Generation with a backend: videos from start images, FramePack-mini training, and the instrument that measures what the embedded model keeps."""
