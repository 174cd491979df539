CREATE DATABASE airflow OWNER govshare;
