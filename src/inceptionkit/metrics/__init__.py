"""FID, KID and Inception Score, computed exactly as pytorch-fid, torch-fidelity or clean-fid do."""

from .network import DIMS, TAPS, FIDFeatures, load_fid_model

__all__ = ["DIMS", "TAPS", "FIDFeatures", "load_fid_model"]
