"""ResNet-18 for 32x32 images (3x3 stem, no max-pool), with GroupNorm instead of BatchNorm.

GroupNorm keeps no running statistics, so the model works unchanged with
``torch.func.functional_call``/``vmap`` and in eval mode from step 0. Used
when torchvision cannot be imported; otherwise torchvision's ``resnet18`` is
adapted the same way (see :func:`torchvision_resnet18`).
"""

from __future__ import annotations

from torch import Tensor, nn

GROUPS = 32


def norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(GROUPS, channels), channels)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (a 1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = norm(c_out)
        self.relu = nn.ReLU()
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), norm(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet18(nn.Module):
    """Stages of (64, 128, 256, 512) channels, two blocks each, global average pool, linear."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths=(64, 128, 256, 512)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), norm(widths[0]), nn.ReLU()
        )
        blocks, c = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            blocks += [BasicBlock(c, w, stride), BasicBlock(w, w, 1)]
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))


def torchvision_resnet18(num_classes: int = 10) -> nn.Module:
    """torchvision's ``resnet18`` adapted to 32x32 inputs: 3x3 stride-1 stem, no max-pool, GroupNorm."""
    from torchvision.models import resnet18

    model = resnet18(num_classes=num_classes, norm_layer=norm)
    model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model
