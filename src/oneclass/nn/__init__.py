"""Shared network building blocks, sized from the input shape, and Grad-CAM."""

from oneclass.nn.blocks import ConvDecoder, ConvEncoder, clip_straight_through, conv_block, downsampled_sizes, up_block
from oneclass.nn.gradcam import grad_cam

__all__ = ["ConvDecoder", "ConvEncoder", "clip_straight_through", "conv_block", "downsampled_sizes", "grad_cam",
           "up_block"]
