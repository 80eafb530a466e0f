r"""ResNet-20 for CIFAR-shaped inputs (He, Zhang, Ren, Sun, CVPR 2016, Sec. 4.2).

The CIFAR-10 network of the paper: a 3x3 conv with 16 channels, then three stages of
``n`` basic blocks (two 3x3 convs with BatchNorm and ReLU) at 16, 32 and 64 channels, the
first block of stages 2 and 3 halving the resolution with stride 2; global average pooling
and a linear read-out. Depth ``6n + 2`` (n = 3: ResNet-20, about 0.27M parameters as in the
paper's Table 6). Shortcuts are the paper's option A (identity; where the shape changes,
subsample by 2 and zero-pad the new channels), so they have no parameters. Convolutions
have no bias (the BatchNorm that follows has one). Weights are drawn from an explicit
generator (Kaiming-normal convs, as in He et al. 2015; PyTorch's default linear layer).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dltheory.core.errors import check_int


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the option-A shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) of He et al. 2016 for (N, in_channels, 32, 32) inputs."""

    def __init__(self, n: int, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, classes)
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(out.mean((2, 3)))


def resnet20(num_classes: int = 10, *, in_channels: int = 3, blocks_per_stage: int = 3, generator: torch.Generator,
             dtype: torch.dtype = torch.float32) -> CifarResNet:
    r"""ResNet-20 (``blocks_per_stage`` = 3; 6n + 2 layers in general) for CIFAR-shaped inputs.

    Args:
        num_classes: outputs of the read-out.
        in_channels: input channels (3 for CIFAR).
        blocks_per_stage: n (3: ResNet-20, 5: ResNet-32, ...).
        generator: draws the initial weights (never the global RNG).
        dtype: parameter dtype.

    Returns:
        the module, in train mode (BatchNorm running statistics at 0 mean, unit variance).

    Example:
        >>> net = resnet20(generator=torch.Generator().manual_seed(0))   # doctest: +SKIP
        >>> net(torch.zeros(2, 3, 32, 32)).shape                          # doctest: +SKIP
        torch.Size([2, 10])

    References: K. He, X. Zhang, S. Ren, J. Sun, "Deep residual learning for image
    recognition", CVPR 2016 (Sec. 4.2, option A shortcuts).
    """
    num_classes = check_int("num_classes", num_classes, minimum=1)
    in_channels = check_int("in_channels", in_channels, minimum=1)
    n = check_int("blocks_per_stage", blocks_per_stage, minimum=1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator; got {type(generator).__name__}.")
    net = CifarResNet(n, num_classes, in_channels)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in))
            elif isinstance(m, nn.Linear):
                bound = 1 / math.sqrt(m.in_features)
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 2 * bound - bound)
                m.bias.copy_(torch.rand(m.bias.shape, generator=generator) * 2 * bound - bound)
    return net.to(dtype)
