{% macro create_ml_tables() %}
    {#- on-run-start: the Python layer owns the ml tables (python/targeting/warehouse.py,
        ML_TABLES); create them empty when absent so `dbt build` works before the first fit.
        python/tests/test_model_layer.py checks both definitions agree. -#}
    create schema if not exists ml;
    create table if not exists ml.model_runs (
        run_id varchar primary key,
        spec_name varchar not null,
        spec_path varchar,
        spec_text varchar not null,
        formula varchar not null,
        family varchar not null,
        inference_method varchar not null,
        sampler varchar not null,
        relation varchar not null,
        train_as_of_min date,
        train_as_of_max date,
        scored_as_of date,
        n_train_rows bigint not null,
        n_train_positives bigint not null,
        n_scored bigint,
        n_unseen_group_rows bigint,
        max_r_hat double,
        min_ess_bulk double,
        divergences bigint,
        diagnostics_ok boolean not null,
        diagnostics_message varchar,
        status varchar not null,
        fit_seconds double,
        score_seconds double,
        fitted_at timestamp,
        scored_at timestamp
    );
    create table if not exists ml.model_evaluations (
        run_id varchar not null,
        split varchar not null,
        model varchar not null,
        metric varchar not null,
        value double,
        lower double,
        upper double,
        n_rows bigint not null,
        n_positives bigint not null,
        n_train_rows bigint not null,
        test_as_of date,
        note varchar,
        evaluated_at timestamp not null
    );
    create table if not exists ml.customer_scores (
        run_id varchar not null,
        client_id bigint not null,
        as_of_date date not null,
        p_mean double not null,
        p_sd double not null,
        p_q05 double not null,
        p_q95 double not null,
        rank bigint not null,
        decile integer not null,
        used_population_level boolean not null
    );
{% endmacro %}
