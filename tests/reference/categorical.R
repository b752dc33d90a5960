# Reference values for efficacy.sem.categorical (tests/test_categorical.py): thresholds, polychoric and
# polyserial correlations, their standard errors and the asymptotic covariance matrix (NACOV / Gamma),
# ordinal alpha.
# Run from the repository root:  Rscript tests/reference/categorical.R
# Writes tests/reference/categorical_hs_cut.csv, categorical_bfi.csv (the data) and
# categorical_{holzinger,bfi,binary,mixed}.json (R calls, package versions and results).
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
  library(psych)
  library(psychTools)
})
out_dir <- file.path("tests", "reference")
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 psych = as.character(packageVersion("psych")),
                 psychTools = as.character(packageVersion("psychTools")))
save_json <- function(x, name) {
  write_json(x, file.path(out_dir, name), digits = NA, auto_unbox = TRUE, pretty = FALSE, na = "null")
}

# ---- the data --------------------------------------------------------------------------------
# Holzinger & Swineford (1939) x1..x9 cut at quantiles into 3, 4 or 5 ordered categories (skewed cuts,
# like Likert items piled up at one end). quantile() type 7; the cut points are recorded in the JSON.
hs <- HolzingerSwineford1939[, paste0("x", 1:9)]
probs <- list(x1 = c(.30, .70), x2 = c(.15, .50, .85), x3 = c(.10, .30, .60, .85),
              x4 = c(.40, .80), x5 = c(.10, .35, .70), x6 = c(.05, .25, .55, .80),
              x7 = c(.50, .85), x8 = c(.20, .45, .75), x9 = c(.15, .40, .65, .90))
cuts <- lapply(names(probs), function(v) unname(quantile(hs[[v]], probs[[v]])))
names(cuts) <- names(probs)
hs_cut <- as.data.frame(lapply(names(probs), function(v)
  findInterval(hs[[v]], cuts[[v]], left.open = TRUE) + 1L))
names(hs_cut) <- names(probs)
stopifnot(all(sapply(hs_cut, function(v) length(unique(v))) == sapply(probs, length) + 1L))
hs_cut$x1_raw <- hs$x1  # the continuous x1, for the polyserial block
write.csv(hs_cut, file.path(out_dir, "categorical_hs_cut.csv"), row.names = FALSE)

# psych's bfi: agreeableness and conscientiousness items (1-6), a random 1,000 rows with their missing values.
data(bfi, package = "psychTools")
set.seed(18)
rows <- sort(sample(nrow(bfi), 1000))
items_bfi <- c(paste0("A", 1:5), paste0("C", 1:5))
bfi10 <- bfi[rows, items_bfi]
rownames(bfi10) <- NULL
write.csv(bfi10, file.path(out_dir, "categorical_bfi.csv"), row.names = FALSE, na = "")

# ---- helpers ---------------------------------------------------------------------------------
lav_block <- function(d, ordered, missing, call_text) {
  t0 <- proc.time()[["elapsed"]]
  fit <- lavCor(d, ordered = ordered, missing = missing, output = "fit", se = "robust.sem")
  secs <- proc.time()[["elapsed"]] - t0
  pe <- parameterEstimates(fit)
  cors <- pe[pe$op == "~~" & pe$lhs != pe$rhs, c("lhs", "rhs", "est", "se")]
  ths <- pe[pe$op == "|", c("lhs", "rhs", "est", "se")]
  G <- lavInspect(fit, "gamma")
  W <- lavInspect(fit, "wls.v")
  zc <- lavInspect(fit, "zero.cell.tables")
  list(call = call_text, seconds = secs,
       nobs = lavInspect(fit, "nobs"),
       cor = unname(lavCor(fit)), names = colnames(lavCor(fit)),
       th = list(names = names(lavInspect(fit, "sampstat")$th), est = unname(lavInspect(fit, "sampstat")$th)),
       pe_cor = as.list(cors), pe_th = as.list(ths),
       gamma = list(names = rownames(G), values = signif(unname(G), 12)),
       wls_v_diag = unname(diag(W)),
       zero_cell_tables = if (length(zc)) unname(zc) else list())
}
psych_block <- function(d, call_text, ...) {
  p <- suppressWarnings(psych::polychoric(d, ...))
  list(call = call_text, rho = unname(p$rho), tau = unname(p$tau), tau_names = colnames(p$rho))
}
alpha_block <- function(R, call_text) {
  a <- psych::alpha(R, warnings = FALSE)
  list(call = call_text, raw_alpha = a$total$raw_alpha, std_alpha = a$total$std.alpha,
       average_r = a$total$average_r, alpha_drop = unname(a$alpha.drop$raw_alpha))
}
ordered_hs <- names(probs)

# ---- Holzinger & Swineford cut ---------------------------------------------------------------
hs9 <- hs_cut[, ordered_hs]
tab_zero <- sapply(combn(ordered_hs, 2, simplify = FALSE), function(p) sum(table(hs9[[p[1]]], hs9[[p[2]]]) == 0))
out_hs <- list(
  source = list(dataset = "lavaan::HolzingerSwineford1939 x1..x9 cut at quantiles (categorical_hs_cut.csv)",
                script = "tests/reference/categorical.R", versions = versions),
  probs = probs, cuts = cuts,
  lavaan = lav_block(hs9, ordered_hs, "listwise",
                     "lavCor(hs9, ordered = names(hs9), output = 'fit', se = 'robust.sem')"),
  psych_correct0 = psych_block(hs9, "psych::polychoric(hs9, correct = 0)", correct = 0),
  psych_default = psych_block(hs9, "psych::polychoric(hs9)  # correct = 0.5, smooth = TRUE"),
  empty_cells_per_pair = tab_zero,
  ordinal_alpha = alpha_block(psych::polychoric(hs9[, c("x1", "x2", "x3")], correct = 0)$rho,
                              "psych::alpha(psych::polychoric(hs9[, c('x1','x2','x3')], correct = 0)$rho)"),
  ordinal_alpha_9 = alpha_block(psych::polychoric(hs9, correct = 0)$rho,
                                "psych::alpha(psych::polychoric(hs9, correct = 0)$rho)")
)
save_json(out_hs, "categorical_holzinger.json")

# ---- bfi (real 6-point items, missing values) ------------------------------------------------
out_bfi <- list(
  source = list(dataset = "psychTools::bfi A1-A5, C1-C5; 1000 rows sampled with set.seed(18) (categorical_bfi.csv)",
                script = "tests/reference/categorical.R", versions = versions),
  rows = rows,
  pairwise = lav_block(bfi10, items_bfi, "pairwise",
                       "lavCor(bfi10, ordered = names(bfi10), missing = 'pairwise', output = 'fit', se = 'robust.sem')"),
  listwise = lav_block(bfi10, items_bfi, "listwise",
                       "lavCor(bfi10, ordered = names(bfi10), missing = 'listwise', output = 'fit', se = 'robust.sem')"),
  psych_default = psych_block(bfi10, "psych::polychoric(bfi10)  # global = TRUE, correct = 0.5, pairwise"),
  ordinal_alpha = alpha_block(psych::polychoric(bfi10[, paste0("A", 2:5)])$rho,
                              "psych::alpha(psych::polychoric(bfi10[, A2:A5])$rho)  # A1 is reverse keyed")
)
save_json(out_bfi, "categorical_bfi.json")

# ---- tetrachoric: x1..x4 split at their medians; one 2x2 table with an empty cell ------------
bin <- as.data.frame(lapply(hs[, paste0("x", 1:4)], function(v) as.integer(v > median(v)) + 1L))
bin$b5 <- ifelse(hs$x1 > quantile(hs$x1, .97), 2L, 1L)  # rare category
bin$b6 <- ifelse(hs$x1 > quantile(hs$x1, .60), 2L, 1L)  # b5 = 2 implies b6 = 2: one empty cell
out_bin <- list(
  source = list(dataset = "HolzingerSwineford1939 x1..x4 split at the median (> median = 2), b5/b6 from x1",
                script = "tests/reference/categorical.R", versions = versions),
  data = as.list(bin),
  lavaan = lav_block(bin, names(bin), "listwise",
                     "lavCor(bin, ordered = names(bin), output = 'fit', se = 'robust.sem')  # zero.add = c(0.5, 0)")
)
save_json(out_bin, "categorical_binary.json")

# ---- polyserial: continuous x1 with the ordinal x2..x6 (cut) ----------------------------------
mixed <- data.frame(x1 = hs$x1, hs_cut[, c("x2", "x3", "x4", "x5", "x6")])
mix_ord <- c("x2", "x3", "x4", "x5", "x6")
fitm <- lavCor(mixed, ordered = mix_ord, output = "fit", se = "robust.sem")
Gm <- lavInspect(fitm, "gamma")
Nm <- lavInspect(fitm, "nobs")
Rm <- lavCor(fitm)
# lavaan's Gamma holds var(x1) and cov(x1, y); the delta method maps it back to the correlation
# rho = cov / sqrt(var):  d rho / d var = -cov / (2 var^1.5),  d rho / d cov = 1 / sqrt(var).
v1 <- lavInspect(fitm, "sampstat")$cov["x1", "x1"]
ps <- lapply(mix_ord, function(y) {
  cv <- lavInspect(fitm, "sampstat")$cov["x1", y]
  i_var <- which(rownames(Gm) == "x1~~x1")
  i_cov <- which(rownames(Gm) %in% c(paste0("x1~~", y), paste0(y, "~~x1")))
  g <- c(-cv / (2 * v1^1.5), 1 / sqrt(v1))
  V <- Gm[c(i_var, i_cov), c(i_var, i_cov)] / (Nm - 1)  # lavaan's vcov for (D)WLS: Gamma / (N - 1)
  list(y = y, rho = Rm["x1", y], se = sqrt(drop(t(g) %*% V %*% g)))
})
psp <- psych::polyserial(mixed$x1, mixed[, mix_ord])
out_mix <- list(
  source = list(dataset = "HolzingerSwineford1939 x1 (continuous) with x2..x6 cut (categorical_hs_cut.csv, x1_raw)",
                script = "tests/reference/categorical.R", versions = versions),
  lavaan = list(call = "lavCor(mixed, ordered = c('x2','x3','x4','x5','x6'), output = 'fit', se = 'robust.sem')",
                mean = mean(mixed$x1), var = v1, gamma_names = rownames(Gm),
                polyserial = ps),
  psych = list(call = "psych::polyserial(mixed$x1, mixed[, c('x2','x3','x4','x5','x6')])  # ad hoc estimator",
               rho = unname(psp[, 1]))
)
save_json(out_mix, "categorical_mixed.json")
cat("done\n")
