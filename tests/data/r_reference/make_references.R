# make_references.R -- reference numbers from R for jaxmle's tests.
#
# Run from the repository root:
#     Rscript tests/data/r_reference/make_references.R
#
# Generated with (Debian bookworm packages):
#     R version 4.2.2 Patched (2022-11-10 r83330)   (r-base-core 4.2.2.20221110-2)
#     survival 3.5.3                                (r-cran-survival 3.5-3-1)
#     brglm2   0.9                                  (r-cran-brglm2 0.9+dfsg-1)
#     MASS     7.3.58.2                             (r-cran-mass 7.3-58.2-1)
# logistf is NOT packaged in Debian (and CRAN was unreachable), so logistf()
# was not run; the profile penalised-likelihood intervals it would give are
# computed by hand below (firth.json -> logit_endometrial.profile_ci_95).
# jsonlite is available but only writes 15 significant digits, so JSON is
# written by the small writer below with sprintf("%.17g").
#
# Every JSON file records R.version.string and packageVersion() of the
# packages it used under "versions".  All floating point numbers in the JSON
# and CSV files are written with 17 significant digits (exact round trip).
# Missing values in CSV files are empty fields; in JSON they are null.

suppressPackageStartupMessages({
  library(survival)
  library(brglm2)
  library(MASS)
})

outdir <- file.path("tests", "data", "r_reference")
if (!dir.exists(outdir)) stop("run from the repository root (", outdir, " not found)")

# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------
num17 <- function(x) ifelse(is.na(x), "", sprintf("%.17g", x))

write_csv17 <- function(df, file) {
  out <- df
  for (nm in names(out)) {
    v <- out[[nm]]
    if (is.logical(v)) v <- as.integer(v)
    if (is.integer(v)) {
      out[[nm]] <- ifelse(is.na(v), "", as.character(v))
    } else if (is.numeric(v)) {
      out[[nm]] <- num17(v)
    }
  }
  write.csv(out, file.path(outdir, file), row.names = FALSE, quote = FALSE, na = "")
}

json_str <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
json_atom <- function(v) {
  if (is.na(v)) return("null")
  if (is.logical(v)) return(if (v) "true" else "false")
  if (is.character(v)) return(json_str(v))
  if (is.integer(v)) return(as.character(v))
  if (!is.finite(v)) stop("non-finite number in JSON output")
  sprintf("%.17g", v)
}
# named list / named vector -> object; unnamed list / vector of length != 1
# (or wrapped in I()) -> array; matrix -> {"rownames","colnames","values"}
to_json <- function(x, ind = 0) {
  pad <- strrep("  ", ind + 1); pad0 <- strrep("  ", ind)
  if (is.null(x)) return("null")
  if (is.factor(x)) x <- as.character(x)
  if (is.matrix(x)) {
    rows <- lapply(seq_len(nrow(x)), function(i) I(unname(x[i, ])))
    return(to_json(list(rownames = I(rownames(x)), colnames = I(colnames(x)),
                        values = rows), ind))
  }
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    items <- vapply(x, to_json, "", ind = ind + 1)
    if (!is.null(names(x))) {
      items <- paste0(json_str(names(x)), ": ", items)
      return(paste0("{\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", pad0, "}"))
    }
    return(paste0("[\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", pad0, "]"))
  }
  if (!is.null(names(x))) return(to_json(as.list(x), ind))
  if (length(x) == 1 && !inherits(x, "AsIs")) return(json_atom(x))
  paste0("[", paste(vapply(unclass(x), json_atom, ""), collapse = ", "), "]")
}
write_json17 <- function(obj, file) {
  writeLines(to_json(obj), file.path(outdir, file))
}
versions <- function(pkgs) {
  c(list(R = R.version.string),
    setNames(lapply(pkgs, function(p) as.character(packageVersion(p))), pkgs))
}

# --------------------------------------------------------------------------
# a. Firth / Jeffreys-prior bias reduction (brglm2)
# --------------------------------------------------------------------------
# brglmFit control passed through glm(...)'s dots: type=, epsilon=1e-12, maxit=1000
# (passing control= explicitly would silently drop type= and fall back to AS_mixed).

# log-likelihood, Fisher information and penalised log-likelihood of a GLM
# with unit prior weights at coefficient vector beta.
glm_parts <- function(beta, X, y, fam) {
  eta <- drop(X %*% beta)
  mu <- fam$linkinv(eta)
  ll <- switch(fam$family,
               binomial = sum(dbinom(y, 1, mu, log = TRUE)),
               poisson = sum(dpois(y, mu, log = TRUE)),
               stop("family"))
  w <- fam$mu.eta(eta)^2 / fam$variance(mu)      # Fisher (expected) weights
  info <- crossprod(X, X * w)
  ldet <- as.numeric(determinant(info, logarithm = TRUE)$modulus)
  list(loglik = ll, logdet = ldet, penalized = ll + 0.5 * ldet, info = info)
}
num_grad <- function(f, x, h = 1e-5) {
  vapply(seq_along(x), function(j) {
    e <- replace(numeric(length(x)), j, h)
    (f(x + e) - f(x - e)) / (2 * h)
  }, 0)
}

firth_record <- function(fit, note = NULL) {
  X <- model.matrix(fit); y <- fit$y; fam <- family(fit)
  b <- coef(fit)
  p <- glm_parts(b, X, y, fam)
  vc <- vcov(fit)
  se_summary <- summary(fit)$coefficients[, "Std. Error"]
  se_inv_info <- sqrt(diag(solve(p$info)))
  canonical <- (fam$family == "binomial" && fam$link == "logit") ||
               (fam$family == "poisson" && fam$link == "log")
  if (canonical) {   # exact gradient of the penalised loglik: X'(y - mu + h*(1/2 - mu)) / X'(y - mu + h/2)
    mu <- fitted(fit)
    XW <- X * sqrt(mu * if (fam$family == "binomial") (1 - mu) else 1)
    h <- rowSums((XW %*% solve(crossprod(XW))) * XW)
    g <- drop(crossprod(X, y - mu + h * (if (fam$family == "binomial") 0.5 - mu else 0.5)))
  } else {
    g <- num_grad(function(bb) glm_parts(bb, X, y, fam)$penalized, b)
  }
  rec <- list(
    family = fam$family, link = fam$link, type = fit$type, n = nrow(X),
    formula = paste(deparse(formula(fit)), collapse = ""),
    coefficients = b,
    se = se_summary,
    vcov = vc,
    loglik = p$loglik,
    logdet_fisher_info = p$logdet,
    penalized_loglik = p$penalized,
    iterations = fit$iter,
    converged = fit$converged,
    check_max_abs_diff_se_summary_vs_inverse_fisher = max(abs(se_summary - se_inv_info)),
    check_max_abs_grad_penalized_loglik = max(abs(g)),
    check_max_abs_brglm2_adjusted_score = max(abs(fit$grad[names(b)]))
  )
  if (!is.null(note)) rec$note <- note
  rec
}

# a1. regular (non-separated) logistic data
set.seed(1)
n <- 60
x1 <- rnorm(n)
x2 <- rbinom(n, 1, 0.5)
eta <- -0.5 + 1 * x1 - 0.8 * x2
y <- rbinom(n, 1, plogis(eta))
d_reg <- data.frame(y = as.integer(y), x1 = x1, x2 = as.integer(x2))
write_csv17(d_reg, "firth_logit_regular.csv")
fit_reg <- glm(y ~ x1 + x2, family = binomial("logit"), data = d_reg,
               method = "brglmFit", type = "AS_mean", epsilon = 1e-12, maxit = 1000)
fit_reg_ml <- glm(y ~ x1 + x2, family = binomial("logit"), data = d_reg,
                  control = glm.control(epsilon = 1e-14, maxit = 100))

# a2. endometrial (NV quasi-separated)
data("endometrial", package = "brglm2")
d_end <- endometrial[, c("HG", "NV", "PI", "EH")]
d_end$HG <- as.integer(d_end$HG); d_end$NV <- as.integer(d_end$NV); d_end$PI <- as.integer(d_end$PI)
write_csv17(d_end, "firth_endometrial.csv")
fit_end <- glm(HG ~ NV + PI + EH, family = binomial("logit"), data = d_end,
               method = "brglmFit", type = "AS_mean", epsilon = 1e-12, maxit = 1000)

# Profile penalised-likelihood 95% intervals for endometrial (what
# logistf(HG ~ NV + PI + EH, pl = TRUE) reports), computed by hand:
# for each coefficient j the set {b : 2*(pl(beta_hat) - max_{beta_-j} pl(b, beta_-j)) <= qchisq(0.95, 1)},
# pl = loglik + 0.5*log det(X'WX).
profile_ci <- function(fit, level = 0.95) {
  X <- model.matrix(fit); y <- fit$y; fam <- family(fit)
  bhat <- coef(fit); k <- length(bhat)
  plmax <- glm_parts(bhat, X, y, fam)$penalized
  crit <- qchisq(level, 1)
  pen_grad <- function(beta) {          # exact gradient for the logit link
    mu <- plogis(drop(X %*% beta))
    w <- mu * (1 - mu)
    XW <- X * sqrt(w)
    h <- rowSums((XW %*% solve(crossprod(XW))) * XW)
    drop(crossprod(X, y - mu + h * (0.5 - mu)))
  }
  prof <- function(j, b, start) {
    full <- function(r) { beta <- bhat; beta[j] <- b; beta[-j] <- r; beta }
    o <- optim(start, function(r) -glm_parts(full(r), X, y, fam)$penalized,
               function(r) -pen_grad(full(r))[-j], method = "BFGS",
               control = list(reltol = 1e-15, maxit = 10000))
    list(value = -o$value, par = o$par)
  }
  out <- list()
  for (j in seq_len(k)) {
    se <- sqrt(vcov(fit)[j, j])
    bounds <- c(NA, NA)
    for (side in c(-1, 1)) {
      f <- function(b) 2 * (plmax - prof(j, b, bhat[-j])$value) - crit
      step <- se
      while (f(bhat[j] + side * step) < 0) step <- 2 * step
      r <- uniroot(f, sort(c(bhat[j], bhat[j] + side * step)), tol = 1e-12)
      bounds[(side + 3) / 2] <- r$root
    }
    out[[names(bhat)[j]]] <- bounds
  }
  out
}
ci_end <- profile_ci(fit_end)

# a3. probit with Jeffreys prior on the regular data
fit_probit <- glm(y ~ x1 + x2, family = binomial("probit"), data = d_reg,
                  method = "brglmFit", type = "MPL_Jeffreys", epsilon = 1e-12, maxit = 1000)

# a4. Poisson
set.seed(2)
n <- 40
x <- runif(n)
y <- rpois(n, exp(0.3 + 1.2 * x))
d_pois <- data.frame(y = as.integer(y), x = x)
write_csv17(d_pois, "firth_poisson.csv")
fit_pois <- glm(y ~ x, family = poisson("log"), data = d_pois,
                method = "brglmFit", type = "AS_mean", epsilon = 1e-12, maxit = 1000)

# a5. Poisson with an all-zero group (plain MLE for g does not exist: -> -Inf)
set.seed(7)
n <- 30
g <- rep(0:1, c(20, 10))
x <- runif(n)
y <- ifelse(g == 0, rpois(n, exp(0.5 + x)), 0)
d_psep <- data.frame(y = as.integer(y), x = x, g = as.integer(g))
write_csv17(d_psep, "firth_poisson_separated.csv")
fit_psep <- glm(y ~ x + g, family = poisson("log"), data = d_psep,
                method = "brglmFit", type = "AS_mean", epsilon = 1e-12, maxit = 1000)
fit_psep_ml <- suppressWarnings(glm(y ~ x + g, family = poisson("log"), data = d_psep))

firth <- list(
  versions = versions(c("brglm2", "stats")),
  description = paste(
    "Bias-reduced GLM fits from brglm2::brglmFit (epsilon=1e-12, maxit=1000).",
    "type AS_mean with a canonical link (logit, log) is Firth (1993) and equals maximising",
    "the Jeffreys-penalised log-likelihood; MPL_Jeffreys maximises it for any link."),
  penalized_loglik_formula = paste(
    "penalized_loglik = loglik + 0.5*log(det(X' W X)), W = diag(mu_eta(eta)^2/V(mu))",
    "(Fisher information of the GLM at the estimate; logit: W=mu(1-mu), probit: W=phi(eta)^2/(Phi(eta)(1-Phi(eta))),",
    "Poisson log: W=mu). loglik is the plain log-likelihood at the same estimate",
    "(Bernoulli: sum y log mu + (1-y) log(1-mu); Poisson: sum dpois(y, mu, log=TRUE) including -log(y!))."),
  se_definition = paste(
    "se = summary(fit) Std. Error = sqrt(diag(vcov(fit))) = sqrt(diag(inverse EXPECTED Fisher information",
    "X'WX evaluated at the bias-reduced estimate)) (for canonical links expected = observed information of",
    "the unpenalised log-likelihood). check_max_abs_diff_se_summary_vs_inverse_fisher confirms this."),
  checks = paste(
    "check_max_abs_grad_penalized_loglik: gradient of penalized_loglik at the estimate (analytic",
    "X'(y-mu+h*(1/2-mu)) for logit, X'(y-mu+h/2) for Poisson-log, h = hat values; central differences h=1e-5 for probit); check_max_abs_brglm2_adjusted_score: brglm2's own adjusted score."),
  logit_regular = c(
    list(data = "firth_logit_regular.csv",
         simulation = "set.seed(1); n=60; x1=rnorm(n); x2=rbinom(n,1,0.5); y=rbinom(n,1,plogis(-0.5+x1-0.8*x2))"),
    firth_record(fit_reg),
    list(ml_coefficients = coef(fit_reg_ml),
         ml_se = summary(fit_reg_ml)$coefficients[, "Std. Error"],
         ml_loglik = as.numeric(logLik(fit_reg_ml)))),
  logit_endometrial = c(
    list(data = "firth_endometrial.csv",
         source = "brglm2::endometrial (Heinze & Schemper 2002); NV is quasi-separated (all NV=1 have HG=1), so the plain ML estimate of NV is +Inf"),
    firth_record(fit_end),
    list(profile_ci_95 = ci_end,
         profile_ci_note = paste(
           "logistf is not available in Debian, so logistf() was NOT run. These are profile penalised-likelihood",
           "95% intervals computed by hand in this script: {b : 2*(max pl - max_{beta_-j: beta_j=b} pl) <= qchisq(0.95,1)},",
           "inner maximisation by optim BFGS with analytic gradient (reltol 1e-15), roots by uniroot(tol=1e-12);",
           "accuracy of the bounds about 1e-6. logistf's 'loglik' would be the penalized_loglik above."),
         wald_ci_95 = lapply(setNames(seq_along(coef(fit_end)), names(coef(fit_end))), function(j)
           coef(fit_end)[[j]] + c(-1, 1) * qnorm(0.975) * sqrt(vcov(fit_end)[j, j])))),
  probit_jeffreys_regular = c(
    list(data = "firth_logit_regular.csv",
         note = "same data as logit_regular; binomial('probit'), type='MPL_Jeffreys' (a=1/2): maximises loglik + 0.5*log det(X'WX)"),
    firth_record(fit_probit)),
  poisson = c(
    list(data = "firth_poisson.csv",
         simulation = "set.seed(2); n=40; x=runif(n); y=rpois(n, exp(0.3+1.2*x))"),
    firth_record(fit_pois)),
  poisson_separated = c(
    list(data = "firth_poisson_separated.csv",
         simulation = "set.seed(7); n=30; g=rep(0:1,c(20,10)); x=runif(n); y=ifelse(g==0, rpois(n, exp(0.5+x)), 0)",
         note = "all counts with g=1 are zero, so the plain MLE of the g coefficient is -Inf (glm reports a large negative value and a huge SE); the Firth estimate is finite",
         plain_glm_g_coefficient = unname(coef(fit_psep_ml)["g"]),
         plain_glm_g_se = unname(summary(fit_psep_ml)$coefficients["g", "Std. Error"])),
    firth_record(fit_psep))
)
write_json17(firth, "firth.json")

# --------------------------------------------------------------------------
# b. Parametric survival regression (survival::survreg)
# --------------------------------------------------------------------------
sctrl <- survreg.control(rel.tolerance = 1e-12, maxiter = 200)

# Hand-computed log-likelihood, to pin down survreg's definition:
# z = (g(y) - x'b)/sigma with g = log for weibull/lognormal/loglogistic and
# identity for gaussian. exact: log f0(z) - log sigma - log|g'(y)| ; right: log S0(z_l);
# left: log F0(z_u); interval: log(F0(z_u) - F0(z_l)).
dist_fun <- list(
  extreme = list(logf = function(z) z - exp(z), F = function(z) -expm1(-exp(z)),
                 logS = function(z) -exp(z), logF = function(z) log(-expm1(-exp(z)))),
  gaussian = list(logf = function(z) dnorm(z, log = TRUE), F = pnorm,
                  logS = function(z) pnorm(z, lower.tail = FALSE, log.p = TRUE),
                  logF = function(z) pnorm(z, log.p = TRUE)),
  logistic = list(logf = function(z) z - 2 * log1p(exp(z)), F = plogis,
                  logS = function(z) plogis(z, lower.tail = FALSE, log.p = TRUE),
                  logF = function(z) plogis(z, log.p = TRUE))
)
base_of <- c(weibull = "extreme", lognormal = "gaussian", loglogistic = "logistic", gaussian = "gaussian")
manual_loglik <- function(fit, lower, upper, dist) {
  # lower/upper on the time scale, NA = open end, lower == upper = exact
  X <- model.matrix(fit); b <- coef(fit); s <- fit$scale
  lp <- drop(X %*% b)
  tr <- if (dist == "gaussian") identity else log
  df <- dist_fun[[base_of[[dist]]]]
  zl <- (tr(lower) - lp) / s; zu <- (tr(upper) - lp) / s
  ll <- numeric(length(lp))
  ex <- !is.na(lower) & !is.na(upper) & lower == upper
  rc <- !is.na(lower) & is.na(upper)
  lc <- is.na(lower) & !is.na(upper)
  ic <- !is.na(lower) & !is.na(upper) & lower < upper
  jac <- if (dist == "gaussian") 0 else log(lower[ex])
  ll[ex] <- df$logf(zl[ex]) - log(s) - jac
  ll[rc] <- df$logS(zl[rc])
  ll[lc] <- df$logF(zu[lc])
  ll[ic] <- log(df$F(zu[ic]) - df$F(zl[ic]))
  sum(ll)
}

survreg_record <- function(fit, lower, upper, dist) {
  v <- fit$var
  nm <- c(names(coef(fit)), "Log(scale)")
  dimnames(v) <- list(nm, nm)
  list(
    dist = dist, n = length(fit$linear.predictors),
    coefficients = coef(fit),
    scale = fit$scale, log_scale = log(fit$scale),
    vcov = v,
    se = setNames(sqrt(diag(v)), nm),
    loglik = fit$loglik[2],
    loglik_intercept_only = fit$loglik[1],
    iterations = fit$iter,
    check_loglik_manual_minus_survreg = manual_loglik(fit, lower, upper, dist) - fit$loglik[2]
  )
}

# b1. lung
lung_cols <- c("time", "status", "age", "sex", "ph.ecog")
d_lung <- survival::lung[complete.cases(survival::lung[, lung_cols]), lung_cols]
rownames(d_lung) <- NULL
d_lung[] <- lapply(d_lung, function(v) if (all(v == round(v))) as.integer(v) else v)
write_csv17(d_lung, "survreg_lung.csv")
lung_fits <- list()
for (d in c("weibull", "lognormal", "loglogistic")) {
  f <- survreg(Surv(time, status) ~ age + sex + ph.ecog, data = d_lung, dist = d, control = sctrl)
  lo <- d_lung$time; up <- ifelse(d_lung$status == 2, d_lung$time, NA)
  lung_fits[[d]] <- survreg_record(f, lo, up, d)
}

# b2. ovarian
d_ov <- survival::ovarian[, c("futime", "fustat", "ecog.ps", "rx")]
d_ov[] <- lapply(d_ov, function(v) as.integer(v))
write_csv17(d_ov, "survreg_ovarian.csv")
ov_fits <- list()
for (d in c("weibull", "lognormal", "loglogistic")) {
  f <- survreg(Surv(futime, fustat) ~ ecog.ps + rx, data = d_ov, dist = d, control = sctrl)
  lo <- d_ov$futime; up <- ifelse(d_ov$fustat == 1, d_ov$futime, NA)
  ov_fits[[d]] <- survreg_record(f, lo, up, d)
}

# b3. Tobit (left censoring at 0), survival::tobin
d_tob <- survival::tobin[, c("durable", "age", "quant")]
d_tob$quant <- as.integer(d_tob$quant)
write_csv17(d_tob, "tobit_tobin.csv")
f_tob <- survreg(Surv(durable, durable > 0, type = "left") ~ age + quant, data = d_tob,
                 dist = "gaussian", control = sctrl)
tobit <- survreg_record(f_tob, ifelse(d_tob$durable > 0, d_tob$durable, NA), d_tob$durable, "gaussian")

# b4. Interval censoring built from the lung subset
set.seed(3)
u <- runif(nrow(d_lung))
dead <- d_lung$status == 2
t <- as.numeric(d_lung$time)
lower <- t; upper <- t                                  # exact
iv <- dead & u < 0.25
lower[iv] <- 0.8 * t[iv]; upper[iv] <- 1.2 * t[iv]       # interval [0.8t, 1.2t]
lc <- dead & u >= 0.25 & u < 0.40
lower[lc] <- NA                                          # left-censored at t
upper[!dead] <- NA                                       # right-censored at t
d_int <- data.frame(lower = lower, upper = upper, age = d_lung$age, sex = d_lung$sex,
                    ph.ecog = d_lung$ph.ecog)
write_csv17(d_int, "survreg_interval.csv")
int_fits <- list()
for (d in c("weibull", "lognormal", "gaussian")) {
  f <- survreg(Surv(lower, upper, type = "interval2") ~ age + sex + ph.ecog, data = d_int,
               dist = d, control = sctrl)
  int_fits[[d]] <- survreg_record(f, lower, upper, d)
}

survreg_json <- list(
  versions = versions(c("survival")),
  parametrisation = paste(
    "survreg: g(T) = x'beta + sigma*W, scale = sigma, log_scale = log(sigma); g = log for weibull",
    "(W standard minimum extreme value, F0(w)=1-exp(-exp(w))), lognormal (W standard normal) and loglogistic",
    "(W standard logistic); g = identity for gaussian. Weibull in the usual shape/scale form: shape = 1/sigma,",
    "scale_T = exp(x'beta)."),
  loglik_definition = paste(
    "loglik = survreg fit$loglik[2], the log-likelihood on the T scale: exact obs contribute",
    "log f0(z) - log(sigma) - log(t) (the -log t Jacobian only for log-transformed dists), right-censored",
    "log S0(z), left-censored log F0(z), interval log(F0(z_u)-F0(z_l)), z = (g(t)-x'beta)/sigma.",
    "check_loglik_manual_minus_survreg verifies this with a hand-written formula."),
  vcov_definition = paste(
    "vcov = fit$var: inverse of the OBSERVED information (negative Hessian of the loglik) in",
    "(beta, log sigma); last row/column is Log(scale). se = sqrt(diag(vcov))."),
  control = "survreg.control(rel.tolerance=1e-12, maxiter=200); iterations = fit$iter under this control",
  lung = list(data = "survreg_lung.csv",
              model = "Surv(time, status) ~ age + sex + ph.ecog",
              source = "survival::lung rows with no NA in time,status,age,sex,ph.ecog (status 1=censored, 2=dead; sex 1=male, 2=female)",
              fits = lung_fits),
  ovarian = list(data = "survreg_ovarian.csv",
                 model = "Surv(futime, fustat) ~ ecog.ps + rx",
                 source = "survival::ovarian (fustat 1=dead, 0=censored)",
                 fits = ov_fits),
  tobit = c(list(data = "tobit_tobin.csv",
                 model = "Surv(durable, durable > 0, type='left') ~ age + quant, dist='gaussian'",
                 note = "durable == 0 rows are left-censored at 0; positive rows exact (identity scale, no Jacobian)"),
            tobit),
  interval = list(data = "survreg_interval.csv",
                  model = "Surv(lower, upper, type='interval2') ~ age + sex + ph.ecog",
                  construction = paste(
                    "from survreg_lung.csv rows: set.seed(3); u=runif(n); deaths with u<0.25 -> interval",
                    "[0.8t, 1.2t]; deaths with 0.25<=u<0.40 -> left-censored at t (lower empty/NA, upper=t);",
                    "other deaths exact (lower=upper=t); censored rows right-censored (lower=t, upper empty/NA)."),
                  counts = c(exact = sum(!is.na(lower) & !is.na(upper) & lower == upper),
                             interval = sum(!is.na(lower) & !is.na(upper) & lower < upper),
                             left = sum(is.na(lower)), right = sum(is.na(upper))),
                  gaussian_note = "dist='gaussian' is fitted on the RAW time scale (days), no log transform, loglik without Jacobian",
                  fits = int_fits)
)
write_json17(survreg_json, "survreg.json")

# --------------------------------------------------------------------------
# c. Negative binomial regression (MASS::glm.nb)
# --------------------------------------------------------------------------
set.seed(4)
n <- 200
x <- rnorm(n)
y <- rnbinom(n, mu = exp(1 + 0.5 * x), size = 2)
d_nb <- data.frame(y = as.integer(y), x = x)
write_csv17(d_nb, "negbin.csv")
nb_msgs <- character()
fit_nb <- withCallingHandlers(
  glm.nb(y ~ x, data = d_nb, control = glm.control(epsilon = 1e-13, maxit = 200, trace = 1)),
  message = function(m) { nb_msgs <<- c(nb_msgs, conditionMessage(m)); invokeRestart("muffleMessage") })
nb_alternations <- sum(grepl("^Theta\\(", nb_msgs))
X <- model.matrix(fit_nb); mu <- fitted(fit_nb); th <- fit_nb$theta
nb_ll <- sum(dnbinom(y, size = th, mu = mu, log = TRUE))
score_beta <- drop(crossprod(X, th * (y - mu) / (th + mu)))
score_theta <- sum(digamma(th + y) - digamma(th) + log(th) + 1 - log(th + mu) - (y + th) / (mu + th))
H_bb <- -crossprod(X, X * (th * mu * (th + y) / (th + mu)^2))
H_bt <- crossprod(X, (y - mu) * mu / (th + mu)^2)
H_tt <- sum(trigamma(th + y) - trigamma(th) + 1 / th - 2 / (mu + th) + (y + th) / (mu + th)^2)
H <- rbind(cbind(H_bb, H_bt), cbind(t(H_bt), H_tt))
nmH <- c(colnames(X), "theta"); dimnames(H) <- list(nmH, nmH)
V_obs <- solve(-H)
negbin <- list(
  versions = versions(c("MASS")),
  data = "negbin.csv",
  simulation = "set.seed(4); n=200; x=rnorm(n); y=rnbinom(n, mu=exp(1+0.5*x), size=2)",
  model = "glm.nb(y ~ x), log link; Var(y) = mu + mu^2/theta; control=glm.control(epsilon=1e-13, maxit=200)",
  coefficients = coef(fit_nb),
  theta = th,
  se = summary(fit_nb)$coefficients[, "Std. Error"],
  se_definition = "summary.negbin SEs: sqrt(diag(inverse EXPECTED information of beta with theta held fixed)), i.e. the IRLS X'WX^-1, W = mu/(1+mu/theta)",
  se_theta = fit_nb$SE.theta,
  se_theta_definition = "fit$SE.theta = 1/sqrt(observed information of theta alone, mu held fixed) from MASS::theta.ml",
  twologlik = fit_nb$twologlik,
  loglik = fit_nb$twologlik / 2,
  check_loglik_dnbinom = nb_ll,
  alternations = nb_alternations,
  alternations_definition = "number of outer theta/beta alternations of glm.nb (counted from its trace messages); fit$iter of glm.nb is only the IRLS count of the last inner glm fit and is not recorded",
  joint_observed_vcov = V_obs,
  joint_observed_se = setNames(sqrt(diag(V_obs)), nmH),
  joint_observed_definition = paste(
    "inverse of the analytic negative Hessian of the joint loglik in (beta, theta) at the estimate",
    "(computed in this script, not by MASS); se of log(theta) by the delta method = joint_observed_se[theta]/theta"),
  check_max_abs_score = max(abs(c(score_beta, score_theta)))
)
write_json17(negbin, "negbin.json")

# --------------------------------------------------------------------------
# d. Two-component mixtures, multi-start BFGS
# --------------------------------------------------------------------------
lse2 <- function(a, b) { m <- pmax(a, b); m + log(exp(a - m) + exp(b - m)) }
ocontrol <- list(reltol = 1e-14, maxit = 10000)

# normal mixture: p = (logit w, mu1, mu2, log sd1, log sd2), w = weight of component 1
norm_terms <- function(p, x) {
  l1 <- plogis(p[1], log.p = TRUE) + dnorm(x, p[2], exp(p[4]), log = TRUE)
  l2 <- plogis(-p[1], log.p = TRUE) + dnorm(x, p[3], exp(p[5]), log = TRUE)
  list(l1 = l1, l2 = l2, ll = lse2(l1, l2))
}
norm_nll <- function(p, x) -sum(norm_terms(p, x)$ll)
norm_grad <- function(p, x) {
  tt <- norm_terms(p, x); r <- exp(tt$l1 - tt$ll); w <- plogis(p[1])
  s1 <- exp(p[4]); s2 <- exp(p[5])
  z1 <- (x - p[2]) / s1; z2 <- (x - p[3]) / s2
  -c(sum(r - w), sum(r * z1 / s1), sum((1 - r) * z2 / s2),
     sum(r * (z1^2 - 1)), sum((1 - r) * (z2^2 - 1)))
}
# Poisson mixture: p = (logit w, log lambda1, log lambda2)
pois_terms <- function(p, x) {
  l1 <- plogis(p[1], log.p = TRUE) + dpois(x, exp(p[2]), log = TRUE)
  l2 <- plogis(-p[1], log.p = TRUE) + dpois(x, exp(p[3]), log = TRUE)
  list(l1 = l1, l2 = l2, ll = lse2(l1, l2))
}
pois_nll <- function(p, x) -sum(pois_terms(p, x)$ll)
pois_grad <- function(p, x) {
  tt <- pois_terms(p, x); r <- exp(tt$l1 - tt$ll); w <- plogis(p[1])
  -c(sum(r - w), sum(r * (x - exp(p[2]))), sum((1 - r) * (x - exp(p[3]))))
}

multistart <- function(x, starts, nll, gr) {
  res <- lapply(seq_len(nrow(starts)), function(i) {
    o <- tryCatch(optim(starts[i, ], nll, gr, x = x, method = "BFGS", control = ocontrol),
                  error = function(e) NULL)
    if (is.null(o) || !is.finite(o$value)) return(list(loglik = NA_real_, par = rep(NA, ncol(starts)), convergence = NA_integer_))
    list(loglik = -o$value, par = o$par, convergence = o$convergence)
  })
  list(logliks = vapply(res, `[[`, 0, "loglik"),
       convergence = vapply(res, function(r) as.integer(r$convergence), 0L),
       pars = do.call(rbind, lapply(res, `[[`, "par")))
}
# a few Newton steps (analytic gradient, Hessian by optimHess) on the best BFGS result
newton_polish <- function(p, nll, gr, x, tol = 1e-11) {
  for (k in 1:50) {
    g <- gr(p, x)
    if (max(abs(g)) < tol) break
    p <- p - solve(optimHess(p, nll, gr, x = x), g)
  }
  p
}
swap_normal <- function(p) if (p[2] > p[3]) c(-p[1], p[3], p[2], p[5], p[4]) else p
swap_pois <- function(p) if (p[2] > p[3]) c(-p[1], p[3], p[2]) else p

# d1. faithful waiting
xw <- as.numeric(datasets::faithful$waiting)
write_csv17(data.frame(waiting = as.integer(xw)), "mixture_faithful.csv")
set.seed(5)
K <- 50
st_n <- cbind(rnorm(K), runif(K, min(xw), max(xw)), runif(K, min(xw), max(xw)),
              log(sd(xw)) + rnorm(K, 0, 0.5), log(sd(xw)) + rnorm(K, 0, 0.5))
ms_n <- multistart(xw, st_n, norm_nll, norm_grad)
# a degenerate start (one sd collapsing onto a tied integer value) would give an unbounded loglik;
# such runs are flagged and excluded from the best.
degen_n <- apply(ms_n$pars, 1, function(p) any(is.na(p)) || min(exp(p[4:5])) < 0.5)
ok_n <- which(!degen_n)
ib <- ok_n[which.max(ms_n$logliks[ok_n])]
pb <- newton_polish(swap_normal(ms_n$pars[ib, ]), norm_nll, norm_grad, xw)
best_n <- -norm_nll(pb, xw)
Hn <- optimHess(pb, norm_nll, norm_grad, x = xw)
nm_n <- c("logit_w1", "mu1", "mu2", "log_sd1", "log_sd2"); dimnames(Hn) <- list(nm_n, nm_n)

# d2. Poisson mixture
set.seed(6)
n <- 300
comp <- rbinom(n, 1, 0.6)               # 1 -> Poisson(9), 0 -> Poisson(2)
xp <- rpois(n, ifelse(comp == 1, 9, 2))
write_csv17(data.frame(y = as.integer(xp)), "mixture_poisson.csv")
st_p <- cbind(rnorm(K), log(runif(K, 0.5, max(xp))), log(runif(K, 0.5, max(xp))))
ms_p <- multistart(xp, st_p, pois_nll, pois_grad)
ok_p <- which(!is.na(ms_p$logliks))
ibp <- ok_p[which.max(ms_p$logliks[ok_p])]
pp <- newton_polish(swap_pois(ms_p$pars[ibp, ]), pois_nll, pois_grad, xp)
best_p <- -pois_nll(pp, xp)
Hp <- optimHess(pp, pois_nll, pois_grad, x = xp)
nm_p <- c("logit_w1", "log_lambda1", "log_lambda2"); dimnames(Hp) <- list(nm_p, nm_p)

mixture <- list(
  versions = versions(c("stats")),
  method = paste(
    "50 starts; optim(method='BFGS', analytic gradient, control=list(reltol=1e-14, maxit=10000));",
    "negative loglik via dnorm/dpois(log=TRUE) and a two-term log-sum-exp. The best fit is relabelled so",
    "component 1 has the smaller mean; w1 = weight of component 1; it is then polished by Newton steps",
    "(analytic gradient, optimHess Hessian) to max|gradient| < 1e-11. n_starts_within_1e-6 counts the raw",
    "BFGS runs whose final loglik is within 1e-6 (absolute) of the best. all_final_logliks are raw BFGS values",
    "(start order), null where optim failed."),
  normal = list(
    data = "mixture_faithful.csv (datasets::faithful$waiting, n=272)",
    parametrisation = "p = (logit w1, mu1, mu2, log sd1, log sd2); density w1*N(mu1,sd1^2) + (1-w1)*N(mu2,sd2^2)",
    starts = paste(
      "set.seed(5); K=50; columns drawn in this order as whole vectors: logit w ~ rnorm(K);",
      "mu1 ~ runif(K, min(x), max(x)); mu2 ~ runif(K, min(x), max(x)); log sd1 ~ log(sd(x)) + rnorm(K, 0, 0.5);",
      "log sd2 ~ log(sd(x)) + rnorm(K, 0, 0.5)"),
    best_loglik = best_n,
    best_par_unconstrained = setNames(pb, nm_n),
    best_par = c(w1 = plogis(pb[1]), mu1 = pb[2], mu2 = pb[3], sd1 = exp(pb[4]), sd2 = exp(pb[5])),
    best_max_abs_gradient = max(abs(norm_grad(pb, xw))),
    observed_info_unconstrained = Hn,
    observed_info_note = "optimHess (finite differences of the analytic gradient) of the negative loglik, unconstrained parametrisation; accurate to ~1e-6 relative",
    `n_starts_within_1e-6` = sum(abs(ms_n$logliks - best_n) <= 1e-6, na.rm = TRUE),
    n_degenerate_excluded = sum(degen_n),
    all_final_logliks = I(ms_n$logliks),
    all_final_w1 = I(plogis(ms_n$pars[, 1])),
    all_final_min_sd = I(pmin(exp(ms_n$pars[, 4]), exp(ms_n$pars[, 5]))),
    degenerate_rule = paste(
      "a run is 'degenerate' (excluded from the best) when its smaller sd is < 0.5: waiting times are integers,",
      "so a component can collapse onto a tied value (sd -> 0, loglik -> +Inf, unbounded likelihood), and",
      "runs ending at a single normal (w1 -> 0 or 1, the empty component's sd drifting) are also caught.",
      "all_final_w1 / all_final_min_sd let a test classify the runs itself."),
    all_convergence_codes = I(ms_n$convergence)),
  poisson = list(
    data = "mixture_poisson.csv",
    simulation = "set.seed(6); n=300; comp=rbinom(n,1,0.6); y=rpois(n, ifelse(comp==1, 9, 2))  (40% Poisson(2), 60% Poisson(9))",
    parametrisation = "p = (logit w1, log lambda1, log lambda2); density w1*Pois(lambda1) + (1-w1)*Pois(lambda2); loglik includes -log(y!)",
    starts = "continuing the RNG stream after the data draw: logit w ~ rnorm(K); log lambda1 = log(runif(K, 0.5, max(y))); log lambda2 = log(runif(K, 0.5, max(y)))",
    best_loglik = best_p,
    best_par_unconstrained = setNames(pp, nm_p),
    best_par = c(w1 = plogis(pp[1]), lambda1 = exp(pp[2]), lambda2 = exp(pp[3])),
    best_max_abs_gradient = max(abs(pois_grad(pp, xp))),
    observed_info_unconstrained = Hp,
    `n_starts_within_1e-6` = sum(abs(ms_p$logliks - best_p) <= 1e-6, na.rm = TRUE),
    all_final_logliks = I(ms_p$logliks),
    all_convergence_codes = I(ms_p$convergence))
)
write_json17(mixture, "mixture.json")

cat("wrote reference files to", outdir, "\n")
