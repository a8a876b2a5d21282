"""Shared network building blocks, sized from the input shape."""

from oneclass.nn.blocks import ConvDecoder, ConvEncoder, clip_straight_through, conv_block, downsampled_sizes, up_block

__all__ = ["ConvDecoder", "ConvEncoder", "clip_straight_through", "conv_block", "downsampled_sizes", "up_block"]
