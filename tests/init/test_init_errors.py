"""Bad input to the functional API: one clear error (or warning) each, messages pinned."""

import pytest
import torch

import initlab
from initlab import ConfigError, UnknownNameError
from initlab import init as I


@pytest.mark.parametrize("fn", ["kaiming_normal_", "kaiming_uniform_", "xavier_uniform_",
                                "xavier_normal_", "lecun_normal_", "variance_scaling_", "default_"])
def test_too_few_dims(fn):
    with pytest.raises(ConfigError, match=r"^Cannot compute fans of a tensor with 1 dimension\(s\) "
                                          r"\(shape \(10,\)\) for layout None; expected at least 2 "
                                          r"dimensions\. Hint: fan-based inits are for weights"):
        getattr(I, fn)(torch.empty(10))


def test_too_few_dims_structured():
    with pytest.raises(ConfigError, match=r"^orthogonal needs a tensor with at least 2 dimensions; "
                                          r"got shape \(4,\)"):
        I.orthogonal_(torch.empty(4))
    with pytest.raises(ConfigError, match=r"^eye needs a tensor with exactly 2 dimensions"):
        I.eye_(torch.empty(2, 2, 2))
    with pytest.raises(ConfigError, match=r"^dirac needs a tensor with at least 3 dimensions"):
        I.dirac_(torch.empty(2, 2))
    with pytest.raises(ConfigError, match=r"^sparse needs a tensor with exactly 2 dimensions"):
        I.sparse_(torch.empty(2, 2, 2), 0.5)


def test_mode_and_distribution_typos():
    with pytest.raises(ConfigError, match=r"^Invalid mode='fan_ot' for initializer "
                                          r"'kaiming_normal'\. Did you mean 'fan_out'\?"):
        I.kaiming_normal_(torch.empty(3, 3), mode="fan_ot")
    with pytest.raises(ConfigError, match=r"^Invalid distribution='unifrom' for initializer "
                                          r"'variance_scaling'\. Did you mean 'uniform'\? Allowed: "
                                          r"\['normal', 'uniform', 'truncated_normal'\]\.$"):
        I.variance_scaling_(torch.empty(3, 3), distribution="unifrom")
    assert isinstance(ConfigError("x"), ValueError)  # torch raised ValueError here too
    # torch accepts the mode in any case
    I.kaiming_normal_(torch.empty(3, 3), mode="FAN_OUT")


def test_zero_element_tensor_warns_and_is_noop():
    for fn, args in [("kaiming_normal_", ()), ("normal_", ()), ("orthogonal_", ()),
                     ("eye_", ()), ("constant_", (2.0,)), ("zero_hadamard_", ())]:
        t = torch.empty(0, 5)
        with pytest.warns(UserWarning, match=r"Initializing a zero-element tensor \(shape \(0, 5\)\)"
                                             r" with \w+ is a no-op\."):
            out = getattr(I, fn)(t, *args)
        assert out is t


def test_meta_tensor_points_to_materialize():
    with pytest.raises(ConfigError, match=r"^Cannot initialize a meta tensor of shape \(4, 3\) in "
                                          r"place with kaiming_normal: it has no storage\. Hint: use "
                                          r"initlab\.materialize\("):
        I.kaiming_normal_(torch.empty(4, 3, device="meta"))
    with pytest.raises(ConfigError, match="initlab.materialize"):
        initlab.get("zeros")(torch.empty(2, device="meta"))


def test_not_a_tensor_and_integer_tensor():
    with pytest.raises(ConfigError, match=r"^normal needs a torch\.Tensor; got list"):
        I.normal_([1.0, 2.0])
    with pytest.raises(ConfigError, match=r"^kaiming_normal draws random floats but the tensor has "
                                          r"dtype torch\.int64; expected a floating-point tensor"):
        I.kaiming_normal_(torch.zeros(3, 3, dtype=torch.long))
    assert I.zeros_(torch.ones(3, dtype=torch.long)).eq(0).all()  # deterministic ones are fine


def test_unknown_nonlinearity_in_kaiming():
    with pytest.raises(ConfigError, match=r"^Invalid nonlinearity='tahn' for initializer "
                                          r"'kaiming_uniform'\. Did you mean 'tanh'\?"):
        I.kaiming_uniform_(torch.empty(3, 3), nonlinearity="tahn")
    with pytest.raises(UnknownNameError, match=r"Unknown nonlinearity 'tahn'\. Did you mean 'tanh'"):
        I.calculate_gain("tahn")


def test_default_bias_needs_fan_in():
    with pytest.raises(ConfigError, match=r"^default\(role='bias'\) needs the weight's fan-in; got "
                                          r"fan_in=None"):
        initlab.get("default(role='bias')")(torch.empty(4))
    with pytest.raises(ConfigError, match=r"^Invalid fan_in=-3 for initializer 'default'"):
        initlab.get("default(fan_in=-3)")


def test_delta_orthogonal_layout_check():
    with pytest.raises(ConfigError, match=r"^delta_orthogonal is for ConvNd weights \(layout 'conv'\)"
                                          r"; got layout 'conv_transpose'"):
        initlab.get("delta_orthogonal")(torch.empty(4, 4, 3), layout="conv_transpose")
