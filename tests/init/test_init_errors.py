"""Bad input to the functional API: one clear error (or warning) each, messages pinned."""

import warnings

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
    with pytest.raises(ConfigError, match=r"^orthogonal_ needs a tensor with at least 2 dimensions; "
                                          r"got shape \(4,\)\. Hint: use orthogonal_ on weights"):
        I.orthogonal_(torch.empty(4))
    with pytest.raises(ConfigError, match=r"^eye_ needs a tensor with exactly 2 dimensions"):
        I.eye_(torch.empty(2, 2, 2))
    with pytest.raises(ConfigError, match=r"^eye_ needs a tensor with exactly 2 dimensions"):
        I.eye_(torch.empty(0))  # torch raises for an empty 1-D tensor too
    with pytest.raises(ConfigError, match=r"^orthogonal_ needs a tensor with at least 2"):
        I.orthogonal_(torch.empty(0))
    with pytest.raises(ConfigError, match=r"^dirac_ needs a tensor with at least 3 \(a ConvNd "
                                          r"weight\) dimensions"):
        I.dirac_(torch.empty(2, 2))
    with pytest.raises(ConfigError, match=r"^sparse_ needs a tensor with exactly 2 dimensions"):
        I.sparse_(torch.empty(2, 2, 2), 0.5)


def test_mode_and_distribution_typos():
    with pytest.raises(ConfigError, match=r"^Invalid mode='fan_ot' for initializer "
                                          r"'kaiming_normal'\. Did you mean 'fan_out'\?"):
        I.kaiming_normal_(torch.empty(3, 3), mode="fan_ot")
    with pytest.raises(ConfigError, match=r"^Invalid distribution='unifrom' for initializer "
                                          r"'variance_scaling'\. Did you mean 'uniform'\? Allowed: "
                                          r"\['normal', 'uniform', 'truncated_normal', "
                                          r"'untruncated_normal'\]\.$"):
        I.variance_scaling_(torch.empty(3, 3), distribution="unifrom")
    assert isinstance(ConfigError("x"), ValueError)  # torch raised ValueError here too
    # torch accepts the mode in any case
    I.kaiming_normal_(torch.empty(3, 3), mode="FAN_OUT")


def test_zero_element_tensor_warns_like_torch():
    # torch warns for kaiming_* only; initlab's own schemes warn too; the text starts as torch's
    for fn, args in [("kaiming_normal_", ()), ("kaiming_uniform_", ()), ("zero_hadamard_", ()),
                     ("lecun_normal_", ())]:
        t = torch.empty(0, 5)
        with pytest.warns(UserWarning, match=r"^Initializing zero-element tensors is a no-op "
                                             r"\(shape \(0, 5\), \w+\)\.$"):
            out = getattr(I, fn)(t, *args)
        assert out is t
    for fn, args in [("normal_", ()), ("orthogonal_", ()), ("eye_", ()), ("constant_", (2.0,))]:
        t = torch.empty(0, 5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert getattr(I, fn)(t, *args) is t


def test_meta_tensor_points_to_materialize():
    with pytest.raises(ConfigError, match=r"^Cannot initialize a meta tensor of shape \(4, 3\) in "
                                          r"place with kaiming_normal_: it has no storage\. Hint: use "
                                          r"initlab\.materialize\("):
        I.kaiming_normal_(torch.empty(4, 3, device="meta"))
    with pytest.raises(ConfigError, match="initlab.materialize"):
        initlab.get("zeros")(torch.empty(2, device="meta"))


def test_not_a_tensor_and_integer_tensor():
    with pytest.raises(AttributeError, match=r"^normal_ needs a torch\.Tensor; got list"):
        I.normal_([1.0, 2.0])  # torch: AttributeError ('list' has no normal_)
    with pytest.raises(NotImplementedError, match=r"^kaiming_normal_ failed on a tensor of shape "
                                                  r"\(3, 3\) and dtype torch\.int64: .*not "
                                                  r"implemented for 'Long'\. Hint: random fills "
                                                  r"need a floating-point tensor"):
        I.kaiming_normal_(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"^kaiming_normal draws random floats but the tensor has "
                                          r"dtype torch\.int64; expected a floating-point tensor"):
        initlab.get("kaiming_normal")(torch.zeros(3, 3, dtype=torch.long))
    assert I.zeros_(torch.ones(3, dtype=torch.long)).eq(0).all()  # deterministic ones are fine


def test_unknown_nonlinearity_in_kaiming():
    with pytest.raises(ConfigError, match=r"^Invalid nonlinearity='tahn' for initializer "
                                          r"'kaiming_uniform'\. Did you mean 'tanh'\?"):
        initlab.get("kaiming_uniform(nonlinearity='tahn')")
    with pytest.raises(ValueError, match=r"^Unknown nonlinearity 'tahn'\. Did you mean 'tanh'\?"):
        I.kaiming_uniform_(torch.empty(3, 3), nonlinearity="tahn")  # torch: ValueError
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
