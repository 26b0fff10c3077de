"""A ResNet-18 of reduced width with the CIFAR stem, the seed author's encoder for the teacherless lab.

ResNet-18 (He et al. 2016, "Deep Residual Learning for Image Recognition", arXiv:1512.03385, table 1): a stem, then
four stages of two basic blocks each, with w, 2w, 4w and 8w channels (w = 64 in the paper), the last three stages
halving the resolution in their first block; global average pooling gives a code of 8w values. A basic block is

    y = ReLU(BN(conv3×3(ReLU(BN(conv3×3(x))))) + S(x)),

S the identity, or a 1×1 convolution of stride 2 and a BatchNorm where the resolution or the width changes. The
CIFAR stem (the paper's §4.2) is one 3×3 convolution of stride 1 with BatchNorm and ReLU and no max-pooling, so a
28-px MNIST view keeps 28 × 28 positions into the first stage. The seed author builds it from torchvision's ResNet-18
with that stem, no classifier and `zero_init_residual` (kaikun213/seq-jepa, seq-jepa/src/models.py:209-214); here
the width w is an option (`ModelConfig.resnet_width`; the author's w = 64 gives a 512-dimensional code, w = 16 a
128-dimensional one), and the initialisation is torchvision's: He-normal convolutions (fan-out), BatchNorm scales 1
and shifts 0, except the last BatchNorm of every block, whose scale starts at 0 so that each block starts as S.
"""

from __future__ import annotations

from torch import Tensor, nn


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int) -> list[nn.Module]:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return [conv, nn.BatchNorm2d(out_channels)]


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BatchNorm and a shortcut (module docstring); the second BatchNorm starts at 0."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.residual = nn.Sequential(
            *_conv_bn(in_channels, out_channels, 3, stride),
            nn.ReLU(inplace=True),
            *_conv_bn(out_channels, out_channels, 3, 1),
        )
        nn.init.zeros_(self.residual[-1].weight)
        changes = stride != 1 or in_channels != out_channels
        self.shortcut = nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride)) if changes else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 with the CIFAR stem and width `width`: images [N, C, H, W] → codes [N, 8·width]."""

    def __init__(self, in_channels: int, width: int = 16):
        super().__init__()
        if width < 1:
            raise ValueError(f"the ResNet width must be a positive number of channels, got {width}; the runs use 16")
        layers: list[nn.Module] = [*_conv_bn(in_channels, width, 3, 1), nn.ReLU(inplace=True)]
        channels = width
        for stage in range(4):
            out = width * 2**stage
            layers += [BasicBlock(channels, out, 1 if stage == 0 else 2), BasicBlock(out, out, 1)]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.layers = nn.Sequential(*layers)
        self.out_dim = channels

    def forward(self, images: Tensor) -> Tensor:
        return self.layers(images)
