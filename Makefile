# marketing_mart: `make demo` builds everything from generated data; `make test` runs every test.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DBT_PROFILES_DIR := $(CURDIR)
export PATH := $(BIN):$(PATH)

DEMO_SCALE ?= 0.05
DEMO_AB_CAMPAIGNS ?= 16
SEED ?= 42
DEMO_RAW ?= data/raw
DEMO_DB ?= data/warehouse.duckdb
# the plain spec: at the demo's scale (10.8k training rows) the hierarchical spec's many small
# categories fail its diagnostics (r_hat 1.02-1.25, bulk ESS 150-190 in every setting tried),
# and score refuses a run that failed them; at 50k rows (make bench) it converges
DEMO_SPEC ?= python/specs/purchase_90d.yml
export MM_RUNS_DIR ?= $(CURDIR)/runs
export MM_REPORTS_DIR ?= $(CURDIR)/reports
SERVING_DIR ?= data/serving
TEST_RAW ?= data/test_raw
TEST_DB ?= data/test_warehouse.duckdb
LINT_DB ?= data/lint_warehouse.duckdb

.PHONY: help install demo data build rebuild fit score evaluate experiments segments clv marts publish metrics test test-fast pytest dbt-test dbt-test-spark bench typecheck lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

UV_VERSION := 0.13.9
$(STAMP): pyproject.toml requirements.lock
	@echo "==> creating $(VENV) with $(PY) and installing pinned dependencies"
	$(PY) -m venv $(VENV)
	@# uv installs the same pinned set in about 20 s where pip takes about 50; pip if uv fails.
	@# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on these machines) nothing else
	@# writes .pyc files, and every process of the test suite (workers, dbt, Spark, CLI
	@# subprocesses) compiled pandas, PyMC, JAX, dbt... from source at each start
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock -e '.[dev]' || \
		$(BIN)/python -m pip install -q -r requirements.lock -e '.[dev]'
	@# PySpark ships only a source archive, which uv unpacks into a new cache entry (about
	@# 0.5-1.4 GB) at each fresh install: repeated fresh-clone runs filled this machine's disk
	@# (62 GB of stale entries). Pruning keeps the entries the install still uses.
	-$(BIN)/uv cache prune -q
	@touch $@

install: $(STAMP)  ## create .venv and install the pinned dependency set

data: $(STAMP)  ## generate the demo's raw files (DEMO_SCALE, SEED) and validate them
	$(BIN)/targeting synth --scale $(DEMO_SCALE) --seed $(SEED) --out $(DEMO_RAW) --ab-campaigns $(DEMO_AB_CAMPAIGNS)
	$(BIN)/targeting validate raw --raw $(DEMO_RAW)

build: $(STAMP)  ## dbt build (all models and tests) on the demo data
	MM_DUCKDB_PATH=$(DEMO_DB) $(BIN)/dbt build --vars '{raw_path: $(DEMO_RAW)}'

fit: $(STAMP)  ## fit DEMO_SPEC on the demo warehouse
	$(BIN)/targeting fit --spec $(DEMO_SPEC) --db $(DEMO_DB)

score: $(STAMP)  ## score the latest cutoff with the latest run, then validate the scores
	$(BIN)/targeting score --db $(DEMO_DB)
	$(BIN)/targeting validate scores --db $(DEMO_DB)

evaluate: $(STAMP)  ## evaluate the latest run (out of time, held-out clients) and write its report
	$(BIN)/targeting evaluate --db $(DEMO_DB)

HOLDOUT := --relation marts.campaign_holdout_outcomes --db $(DEMO_DB) --arm variant --control control \
	--metric converted --metric revenue_in_window --keep-if window_complete --planned control=0.2,treatment=0.8
# the same holdouts, regression-adjusted on each client's behaviour before the assignment
HOLDOUT_ADJUSTED := $(subst campaign_holdout_outcomes,campaign_holdout_features,$(HOLDOUT)) \
	--covariate orders_365d --covariate revenue_365d --covariate days_since_last_order --covariate opens_90d
UPLIFT_SPEC ?= python/specs/holdout_uplift.yml
experiments: $(STAMP)  ## holdout lift per campaign, A/B tests of all holdouts (plain, adjusted and sequential), a plan, uplift
	$(BIN)/targeting lift $(HOLDOUT) --analysis holdouts --group bulk_campaign_id
	$(BIN)/targeting abtest $(HOLDOUT) --experiment holdouts_all \
		--ratio revenue_per_converter=revenue_in_window/converted
	$(BIN)/targeting abtest $(HOLDOUT_ADJUSTED) --experiment holdouts_adjusted \
		--sequential --looks-by assigned_on --guardrail revenue_in_window
	$(BIN)/targeting plan --relation marts.campaign_holdout_features --db $(DEMO_DB) --metric converted \
		--keep-if window_complete --date assigned_on --covariate orders_365d --covariate revenue_365d \
		--arm variant --control control --mde 0.1 --relative --ratio 4
	$(BIN)/targeting uplift --spec $(UPLIFT_SPEC) --db $(DEMO_DB) --quiet

SEGMENT_SPEC ?= python/specs/segments.yml
segments: $(STAMP)  ## k-means behavioural segments of the latest cutoff's buyers (k by silhouette)
	$(BIN)/targeting segment --spec $(SEGMENT_SPEC) --db $(DEMO_DB) --quiet

CLV_SPEC ?= python/specs/clv.yml
clv: $(STAMP)  ## customer lifetime value (BG/NBD, Gamma-Gamma) at the latest cutoff, checked out of time
	$(BIN)/targeting clv --spec $(CLV_SPEC) --db $(DEMO_DB) --quiet

marts: $(STAMP)  ## rebuild the ml staging models and marts, export them to Parquet and publish them for BI tools
	MM_DUCKDB_PATH=$(DEMO_DB) $(BIN)/dbt build --select staging.ml+ --vars '{raw_path: $(DEMO_RAW)}'
	$(BIN)/targeting export --db $(DEMO_DB)
	$(BIN)/targeting publish --db $(DEMO_DB) --out $(SERVING_DIR)

publish: $(STAMP)  ## publish the BI-facing marts as a new serving version (BI tools read SERVING_DIR/serving.duckdb)
	$(BIN)/targeting publish --db $(DEMO_DB) --out $(SERVING_DIR)

# dbt's semantic layer (models/semantic, docs/semantic_layer.md): mf reads target/semantic_manifest.json,
# which names the tables by the warehouse file's name, so it is parsed for DEMO_DB first
METRICS_QUERY ?= --metrics conversion_rate,cost_per_conversion,roas,profit --group-by metric_time__month,economics__channel
metrics: $(STAMP)  ## the semantic layer on the demo warehouse: mf validate-configs, then METRICS_QUERY (by month and channel)
	MM_DUCKDB_PATH=$(DEMO_DB) $(BIN)/dbt parse -q --vars '{raw_path: $(DEMO_RAW)}'
	MM_DUCKDB_PATH=$(DEMO_DB) $(BIN)/mf validate-configs
	MM_DUCKDB_PATH=$(DEMO_DB) $(BIN)/mf query $(METRICS_QUERY) --order metric_time__month

# the demo's raw files are generated anew, so its warehouse is rebuilt in full (an incremental
# run over tables built from other data, or by an older vocabulary, is not what the demo shows)
rebuild: $(STAMP)  ## dbt build --full-refresh (every incremental model rebuilt) on the demo data
	MM_DUCKDB_PATH=$(DEMO_DB) $(BIN)/dbt build --full-refresh --vars '{raw_path: $(DEMO_RAW)}'

demo: data rebuild fit score evaluate experiments segments clv marts metrics  ## generate data, build, fit, score, evaluate, say where everything is
	@echo
	@echo "Warehouse:        $(DEMO_DB)   (schemas: staging, intermediate, marts, ml)"
	@echo "Targeting list:   marts.targeting_list (scores, key features, expected value)"
	@echo "Monitoring:       marts.model_monitoring (held-out metrics vs baselines)"
	@echo "Economics:        marts.campaign_economics (cost per conversion, ROAS, profit by campaign x channel x segment x month)"
	@echo "Experiments:      marts.campaign_lift (holdout lift, partially pooled), marts.ab_test_results, marts.experiment_decisions"
	@echo "Uplift:           marts.uplift_targeting (who to contact by expected incremental profit)"
	@echo "Segments:         marts.customer_segments (RFM), marts.customer_segment_transitions, marts.segment_profiles (k-means, with CLV)"
	@echo "Customer value:   marts.customer_value (CLV, P(alive), segment), marts.customer_rfm_summary; page: $(MM_REPORTS_DIR)/clv/*/report.html"
	@echo "Experiment pages: $(MM_REPORTS_DIR)/experiments/*/report.html, $(MM_REPORTS_DIR)/uplift/*/report.html"
	@echo "Segment pages:    $(MM_REPORTS_DIR)/segments/*/report.html"
	@echo "Report:           $(MM_REPORTS_DIR)/$$(cat $(MM_RUNS_DIR)/LATEST)/report.html"
	@echo "Data Docs:        gx/uncommitted/data_docs/local_site/index.html"
	@echo "Metrics:          $(BIN)/mf query --metrics conversion_rate,roas,holdout_lift,... (docs/semantic_layer.md; make metrics)"
	@echo "BI tools:         $(SERVING_DIR)/serving.duckdb (read-only; builds never wait for it), Parquet in data/exports/"
	@echo "Saved runs:       $(MM_RUNS_DIR)/   (latest: $$(cat $(MM_RUNS_DIR)/LATEST))"
	@echo "Raw files:        $(DEMO_RAW)/   ground truth: $(DEMO_RAW)/ground_truth/effects.json"
	@echo "Browse:           $(BIN)/python -c \"import duckdb; print(duckdb.connect('$(DEMO_DB)', read_only=True).sql('from marts.targeting_list order by rank limit 10'))\""

dbt-test: $(STAMP)  ## dbt build with every data and unit test on small generated data
	$(BIN)/targeting synth --scale 0.02 --seed 7 --out $(TEST_RAW) --quiet
	rm -f $(TEST_DB)
	MM_DUCKDB_PATH=$(TEST_DB) $(BIN)/dbt build --vars '{raw_path: $(TEST_RAW)}'

TEST_SPARK_DIR ?= data/spark_test
dbt-test-spark: $(STAMP)  ## the same dbt build on Spark (local PySpark, Java 17) with every data and unit test
	test -d $(TEST_RAW) || $(BIN)/targeting synth --scale 0.02 --seed 7 --out $(TEST_RAW) --quiet
	rm -rf $(TEST_SPARK_DIR)
	MM_SPARK_DIR=$(CURDIR)/$(TEST_SPARK_DIR) $(BIN)/dbt build --target spark --vars '{raw_path: $(TEST_RAW)}'

# three processes on two cores: a worker waiting on a lock, a subprocess or the Spark JVM
# leaves a core idle for the third (two workers kept the cores about 85% busy); measured
# back to back, 11m03 against 12m10 for two, and four took 11m37 (a slower hour)
PYTEST_WORKERS ?= 3
pytest: $(STAMP)  ## the Python test suite (PYTEST_WORKERS processes, a test module each at a time)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

test-fast: $(STAMP)  ## the fast loop: tests not marked slow (no warehouse build, no model fit)
	$(BIN)/python -m pytest -q -m "not slow"

test: pytest  ## the whole test suite: pytest, whose shared warehouse is a dbt build with every data and unit test

bench: $(STAMP)  ## benchmarks (not tests): mart build, fits, scoring vs baselines; BENCH_SCALE, BENCH_SECTIONS
	$(BIN)/python benchmarks/bench.py

typecheck: $(STAMP)  ## mypy, strict, on python/targeting (settings in pyproject.toml)
	$(BIN)/mypy

lint: typecheck  ## ruff and mypy on Python, sqlfluff (dbt templater) on SQL
	$(BIN)/ruff check python benchmarks
	$(BIN)/ruff format --check python benchmarks
	test -d $(TEST_RAW) || $(BIN)/targeting synth --scale 0.02 --seed 7 --out $(TEST_RAW) --quiet
	@# the dbt templater compiles every model against a warehouse built now from the test data
	@# (star_except reads its inputs' columns); a model that fails to compile is skipped with a
	@# warning by sqlfluff, so that warning fails the target too
	rm -f $(LINT_DB)
	MM_DUCKDB_PATH=$(LINT_DB) $(BIN)/dbt build -q --exclude resource_type:test resource_type:unit_test \
		--vars '{raw_path: $(TEST_RAW)}' --target-path target/lint
	set -o pipefail; MM_DUCKDB_PATH=$(LINT_DB) $(BIN)/sqlfluff lint models macros tests 2>&1 | tee data/lint.log
	! grep -q "Skipped file" data/lint.log

clean:  ## remove generated data, dbt artifacts and the venv
	rm -rf data target logs runs reports $(VENV)
