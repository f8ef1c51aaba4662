"""Derivatives through fits (implicit function theorem at the optimum) against closed forms and
central finite differences of refits."""

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
import pytest

import jaxmle as jm

TIGHT = jm.Newton(tol=1e-14)


def central_difference(f, x, index, eps):
    """``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for the entry ``index`` of array ``x``."""
    x = np.asarray(x, dtype=float)
    up, down = x.copy(), x.copy()
    up[index] += eps
    down[index] -= eps
    return (float(f(jnp.asarray(up))) - float(f(jnp.asarray(down)))) / (2.0 * eps)


def check_gradient(f, x, indices, rtol=1e-5, eps=None):
    """``jax.grad(f)`` equals central differences at the given entries of ``x``."""
    grad = np.asarray(jax.grad(f)(jnp.asarray(x)))
    scale = np.max(np.abs(grad))
    for index in indices:
        step = eps if eps is not None else 1e-5 * max(1.0, abs(float(np.asarray(x)[index])))
        fd = central_difference(f, x, index, step)
        np.testing.assert_allclose(grad[index], fd, rtol=rtol, atol=rtol * scale, err_msg=index)


def test_grad_of_normal_location_is_one_over_n():
    x = jnp.asarray(np.random.default_rng(0).normal(size=37))
    grad = jax.grad(lambda x: jm.fit(jm.Normal(), x).params["loc"])(x)
    np.testing.assert_allclose(grad, np.full(37, 1 / 37), rtol=1e-12)


def test_normal_closed_forms_for_scale_se_and_loglik():
    # scale = sqrt(mean((x - m)^2)): d scale / d x_i = (x_i - m) / (n scale);
    # se(loc) = scale / sqrt(n);
    # loglik = -n/2 (log(2 pi scale^2) + 1): d loglik / d x_i = -(x_i - m) / scale^2
    x = np.random.default_rng(1).normal(2.0, 3.0, size=25)
    n, m, s = len(x), x.mean(), x.std()
    res = lambda x: jm.fit(jm.Normal(), x)  # noqa: E731
    np.testing.assert_allclose(
        jax.grad(lambda x: res(x).params["scale"])(x), (x - m) / (n * s), rtol=1e-9
    )
    np.testing.assert_allclose(
        jax.grad(lambda x: res(x).se["loc"])(x), (x - m) / (n * s) / np.sqrt(n), rtol=1e-9
    )
    np.testing.assert_allclose(jax.grad(lambda x: res(x).loglik)(x), -(x - m) / s**2, rtol=1e-9)


@pytest.mark.slow  # second order through a fit also runs in the notebook (Newton through jm.fit)
def test_second_derivatives_of_estimate_and_loglik():
    # jax.hessian differentiates the implicit rule again: compare with differences of gradients.
    # The estimate and the log-likelihood (second order of the envelope theorem) in one function.
    x = jnp.asarray(np.random.default_rng(2).gamma(2.0, size=12))

    def f(x):
        res = jm.fit(jm.Gamma(), x, solver=TIGHT)
        return res.params["shape"] + 0.1 * res.loglik

    hess = np.asarray(jax.hessian(f)(x))
    grad = jax.grad(f)
    for i in (0, 5):
        eps = 1e-5
        fd = (np.asarray(grad(x.at[i].add(eps))) - np.asarray(grad(x.at[i].add(-eps)))) / (2 * eps)
        np.testing.assert_allclose(hess[i], fd, rtol=1e-5, atol=1e-6 * np.max(np.abs(fd)))
    np.testing.assert_allclose(hess, hess.T, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", ["Gamma", "StudentT"])
def test_estimate_se_and_loglik_match_finite_differences(name):
    # One combination per model (one compiled gradient); weights keep the three distinguishable.
    rng = np.random.default_rng(3)
    if name == "Gamma":
        model, x, param = jm.Gamma(), rng.gamma(3.0, 0.5, size=40), "shape"
    else:
        model, x, param = jm.StudentT(), 1.0 + 2.0 * rng.standard_t(5.0, size=60), "scale"

    def f(x):
        res = jm.fit(model, x, solver=TIGHT)
        return res.params[param] + 3.0 * res.se[param] + 0.01 * res.loglik

    check_gradient(f, x, indices=[0, 7, 21])


def _logit_data(seed=4, n=80):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = (rng.random(n) < jax.nn.sigmoid(X @ np.array([0.3, 1.0, -0.7]))).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    return X, y, w


def test_logit_gradients_with_respect_to_X_and_weights():
    # One compiled gradient in both arguments; each checked against central differences.
    X, y, w = _logit_data()

    def quantities(X, w):
        res = jm.fit(jm.Logit(), {"X": X, "y": y}, weights=w, solver=TIGHT)
        return res.params["beta"][1] + res.se["beta"][2] + 0.01 * res.loglik

    grad_X, grad_w = jax.grad(quantities, argnums=(0, 1))(jnp.asarray(X), jnp.asarray(w))
    for index in ((4, 0), (10, 1), (32, 2)):
        fd = central_difference(lambda v: quantities(v, w), X, index, 1e-5)
        np.testing.assert_allclose(grad_X[index], fd, rtol=1e-5, atol=1e-5 * np.abs(grad_X).max())
    for index in (1, 9, 70):
        fd = central_difference(lambda v: quantities(X, v), w, index, 1e-5)
        np.testing.assert_allclose(grad_w[index], fd, rtol=1e-5, atol=1e-5 * np.abs(grad_w).max())


def test_logit_derivatives_with_respect_to_y_equal_their_closed_forms():
    # y off {0, 1} is outside the support (a refit there is INVALID_DATA), so the reference is the
    # closed form: g(beta, y) = -X' W (y - mu) gives d beta / d y = H^{-1} X' W with
    # H = X' W diag(mu (1 - mu)) X, and d loglik / d y_i = w_i eta_i (envelope theorem).
    X, y, w = _logit_data()
    res = jm.fit(jm.Logit(), {"X": X, "y": y}, weights=w)
    beta = np.asarray(res.params["beta"])
    eta = X @ beta
    mu = 1.0 / (1.0 + np.exp(-eta))
    H = X.T @ (X * (w * mu * (1 - mu))[:, None])
    expected = np.linalg.solve(H, X.T * w)  # (p, n)

    def fitted(y):
        return jm.fit(jm.Logit(), {"X": X, "y": y}, weights=w)

    jacobian = jax.jacrev(lambda y: fitted(y).params["beta"])(jnp.asarray(y))
    np.testing.assert_allclose(jacobian, expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(jax.grad(lambda y: fitted(y).loglik)(y), w * eta, rtol=1e-8)


def test_censored_weibull():
    rng = np.random.default_rng(5)
    t = rng.weibull(1.5, 50) * 2.0
    event = (rng.random(50) < 0.7).astype(float)

    def weibull_scale(x):
        res = jm.fit(jm.Censored(jm.Weibull()), {"x": x, "event": event}, solver=TIGHT)
        return res.params["scale"] + res.se["shape"]

    check_gradient(weibull_scale, t, indices=[0, 13, 40])


def test_a_hyperparameter_in_the_data():
    # A t location-scale model whose degrees of freedom are data (a fixed hyperparameter).
    rng = np.random.default_rng(5)
    model = jm.Model(
        lambda p, d: jss.t.logpdf(d["x"], d["df"], p["loc"], p["scale"]),
        {"loc": jm.Real(0.0), "scale": jm.Positive(1.0)},
    )
    x = rng.standard_t(4.0, 60)

    def loc_given_df(df):
        data = {"x": x, "df": jnp.full(60, df)}
        return jm.fit(model, data, solver=TIGHT).params["loc"]

    grad = jax.grad(loc_given_df)(4.0)
    fd = (float(loc_given_df(4.0 + 1e-5)) - float(loc_given_df(4.0 - 1e-5))) / 2e-5
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_forward_and_reverse_modes_agree():
    x = jnp.asarray(np.random.default_rng(6).gamma(2.0, size=20))

    def estimates(x):
        res = jm.fit(jm.Gamma(), x)
        return jnp.stack([res.params["shape"], res.params["rate"], res.se["rate"]])

    # jacfwd pushes tangents through the rule (jvp), jacrev transposes it (vjp).
    forward = jax.jacfwd(estimates)(x)
    reverse = jax.jacrev(estimates)(x)
    np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-14)


def test_jit_vmap_grad_equals_a_loop_of_gradients():
    xs = jnp.asarray(np.random.default_rng(8).gamma(2.0, size=(6, 30)))

    def shape_se(x):
        return jm.fit(jm.Gamma(), x).se["shape"]

    batched = jax.jit(jax.vmap(jax.grad(shape_se)))(xs)
    for i in range(xs.shape[0]):
        np.testing.assert_allclose(batched[i], jax.grad(shape_se)(xs[i]), rtol=1e-10)


def test_failed_fits_have_nan_derivatives_and_others_do_not():
    # A batch of three logistic regressions, the middle one completely separated (its MLE does
    # not exist): NaN derivatives for it alone, whatever made a fit fail.
    rng = np.random.default_rng(9)
    X = np.stack([np.column_stack([np.ones(20), rng.normal(size=20)]) for _ in range(3)])
    y = (rng.random((3, 20)) < 0.5).astype(float)
    y[1] = (X[1, :, 1] > 0).astype(float)

    def slope(X, y):
        return jm.fit(jm.Logit(), {"X": X, "y": y}).params["beta"][1]

    status = jax.vmap(lambda X, y: jm.fit(jm.Logit(), {"X": X, "y": y}).status)(X, y)
    np.testing.assert_array_equal(status, [0, jm.Status.SEPARATION, 0])
    grads = jax.vmap(jax.grad(slope))(X, y)
    assert np.all(np.isnan(grads[1]))
    assert np.all(np.isfinite(np.asarray(grads)[[0, 2]]))
