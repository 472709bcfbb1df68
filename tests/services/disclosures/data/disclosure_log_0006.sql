-- A disclosure log written by the services at commit 72974cd (schema 0006), before the
-- signed-log store existed: the rows of every table the services filled, as SQLite stored
-- them, without the search index and the page-version counter (the migrations make those).
-- Booleans are written TRUE/FALSE and times are UTC without an offset, so the same
-- statements load on PostgreSQL with the session's time zone at UTC. The signing key is a
-- test key, kept so that a test can extend the log and prove the old checkpoints consistent.
-- origin: logs.example.internal/disclosures-v0006
-- vkey: logs.example.internal/disclosures-v0006+139a5c85+AVPAaZcj+H/gaYxJ1oDYnd4+GkDDcbSpNy706domkvBd
-- key: /GLOYG5JdZq0NvbnBl1NKi1urgZotaGhTtocgiS7ieo=
-- schema: 0006
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (1, 'major-decisions', 'factory', '“三重一大”事项', 'Major decisions, appointments, projects and fund use', 0, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (2, 'budget-accounts', 'factory', '财务预决算', 'Budgets and final accounts', 1, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (3, 'procurement', 'factory', '采购与招投标', 'Procurement and bidding', 2, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (4, 'pay-welfare', 'factory', '薪酬、福利与社会保险', 'Pay, bonuses, welfare and social insurance', 3, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (5, 'work-safety', 'factory', '安全生产', 'Work safety', 4, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (6, 'leaders-expenses', 'factory', '领导人员薪酬及履职待遇、业务支出', 'Leaders'' pay, allowances, vehicles, entertainment and travel', 5, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (7, 'workers-congress', 'factory', '职代会决议', 'Workers'' congress resolutions', 6, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (8, 'party-decisions', 'party', '贯彻落实上级决策部署', 'Implementation of decisions', 7, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (9, 'organisation-life', 'party', '组织生活', 'Organisation life', 8, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (10, 'elections', 'party', '党组织换届选举', 'Elections', 9, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (11, 'member-admission', 'party', '发展党员', 'Admitting members', 10, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (12, 'member-appraisal', 'party', '民主评议党员', 'Member appraisal', 11, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (13, 'party-dues', 'party', '党费收缴和使用', 'Party dues collection and use', 12, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (14, 'conduct-problems', 'party', '作风问题整改', 'Conduct problems', 13, TRUE);
INSERT INTO disclosure_categories (id, code, domain, name_zh, name_en, position, active) VALUES (15, 'discipline-outcomes', 'party', '执纪问责结果', 'Discipline outcomes and accountability cases', 14, TRUE);
INSERT INTO disclosure_log_checkpoints (size, root_hash, note, created_at) VALUES (1, '2b37079f423568080d6d58f43eb9c8e727f91369c05dc9a03223664142254ea8', 'logs.example.internal/disclosures-v0006
1
KzcHn0I1aAgNbVj0PrnI5yf5E2nAXcmgMiNmQUIlTqg=

— logs.example.internal/disclosures-v0006 E5pchVeU1VT2sbUAT7JWfpmxJbpOdVQU2kOqD3iTy0L7otPhR05lbqE1ctuw8L0pqwxP4rUWgT+TRSXLYT4h+EFSwwA=
', '2026-12-04 18:44:37.384533');
INSERT INTO disclosure_log_checkpoints (size, root_hash, note, created_at) VALUES (3, '3c9072027f448f262a83d4cbb53b6a0d7923cc1578b70cc499c194778c41b9a0', 'logs.example.internal/disclosures-v0006
3
PJByAn9EjyYqg9TLtTtqDXkjzBV4twzEmcGUd4xBuaA=

— logs.example.internal/disclosures-v0006 E5pchZi4uG2lfTO1brGFt9Gf64QN8+rxknqIlv0mhlkeENS3YXZAwBIfLCN34H1p3jMgHJCUO84TWr2DAkNi6Jt2Tw8=
', '2026-12-04 18:44:37.406165');
INSERT INTO disclosure_log_checkpoints (size, root_hash, note, created_at) VALUES (7, '388a60e4b17c74f221793fb2bcea8ad61b41ad08d36c44f6b43e9fc40f41a10c', 'logs.example.internal/disclosures-v0006
7
OIpg5LF8dPIheT+yvOqK1htBrQjTbET2tD6fxA9BoQw=

— logs.example.internal/disclosures-v0006 E5pchb9BAgGtrC+uqoj00dESH5zIg7WUwDkXnP1SYC7IRP/1avkjwQ4euesH7Mio8AtEYCTdoiIacGQRoT4+EvsYFA4=
', '2026-12-04 18:44:37.430949');
INSERT INTO units (id, code, name_zh, name_en, kind, parent_id, created_at) VALUES (1, 'GRP', '华夏示范集团', 'Huaxia Group', 'enterprise', NULL, '2026-12-04 18:44:37.329799');
INSERT INTO units (id, code, name_zh, name_en, kind, parent_id, created_at) VALUES (2, 'MCH', '重型机械公司', 'Heavy Machinery', 'subsidiary', 1, '2026-12-04 18:44:37.330075');
INSERT INTO staff_users (id, username, display_name, password_hash, totp_secret, totp_last_step, unit_id, office_id, active, created_at) VALUES (1, 'publisher', 'publisher', 'scrypt:1024:8:1$ABH9GNHSOVeDXhF5$26e9b94a5fe9eece8f5adb46aef8407effdebfa9e86ec425e6f435221b10646fe63a34c5c5aae37aac67f0ce36603c13441c4adcb13a8e0e73e8418ff28c2fb2', 'WMPHDAXS7XXEVJH6MQ54WFBPEKL7HXL3', 0, 1, NULL, TRUE, '2026-12-04 18:44:37.342312');
INSERT INTO staff_users (id, username, display_name, password_hash, totp_secret, totp_last_step, unit_id, office_id, active, created_at) VALUES (2, 'approver', 'approver', 'scrypt:1024:8:1$qaqQeloSzBzdITE9$d4b12ce0ad0c207a22bbd3e9f995b2429561e2c5f094b9923d96be77b54692a4cde8cf10b259513ed5b2aae8f1f7016f1af204140e0724aaa4a5ea3a8b904320', '6RSC7CEFRPYOWUGUWGP576JF4H4JCMCI', 0, 1, NULL, TRUE, '2026-12-04 18:44:37.352104');
INSERT INTO disclosures (id, author_id, public_state, work_state, work_action, work_author_id, title, body, reason, category_id, unit_id, scope, period_key, scheduled_at, created_at, published_at, revised_at, retracted_at, revision_count, public_title, search_text) VALUES (1, 1, 'published', 'none', 'publish', 1, '食堂承包招标结果公示 Canteen tender', '中标单位：**华北餐饮有限公司**。

公示期 5 个工作日；异议请书面提出。
引号 "quoted" 与反斜杠 \ 与 emoji 🍚 与 𠀀', '', 3, 2, 'everyone', NULL, NULL, '2026-12-04 18:44:37.360668', '2026-12-04 18:44:37.000000', NULL, NULL, 1, '食堂承包招标结果公示 Canteen tender', '食堂承包招标结果公示 Canteen tender
中标单位：华北餐饮有限公司。

公示期 5 个工作日；异议请书面提出。
引号 "quoted" 与反斜杠 \ 与 emoji 🍚 与 𠀀');
INSERT INTO disclosures (id, author_id, public_state, work_state, work_action, work_author_id, title, body, reason, category_id, unit_id, scope, period_key, scheduled_at, created_at, published_at, revised_at, retracted_at, revision_count, public_title, search_text) VALUES (2, 1, 'published', 'none', 'amend', 1, '2025年度职工福利费使用情况', '| 项目 | 金额（万元） |
| --- | --- |
| 节日慰问 | 12.5 |
| 困难补助 | 3.2 |', '', 4, 1, 'everyone', '2025', NULL, '2026-12-04 18:44:37.386319', '2026-12-04 18:44:37.000000', '2026-12-04 18:44:37.000000', NULL, 2, '2025年度职工福利费使用情况', '2025年度职工福利费使用情况
项目
金额（万元）

节日慰问
12.5

困难补助
3.2');
INSERT INTO disclosures (id, author_id, public_state, work_state, work_action, work_author_id, title, body, reason, category_id, unit_id, scope, period_key, scheduled_at, created_at, published_at, revised_at, retracted_at, revision_count, public_title, search_text) VALUES (3, 1, 'retracted', 'none', 'retract', 1, 'Safety drill notice 安全演练通知', 'All workshops, 9:00.', '', 5, 2, 'everyone', NULL, NULL, '2026-12-04 18:44:37.407885', '2026-12-04 18:44:37.000000', NULL, '2026-12-04 18:44:37.000000', 2, 'Safety drill notice 安全演练通知', '');
INSERT INTO disclosures (id, author_id, public_state, work_state, work_action, work_author_id, title, body, reason, category_id, unit_id, scope, period_key, scheduled_at, created_at, published_at, revised_at, retracted_at, revision_count, public_title, search_text) VALUES (4, 1, 'published', 'none', 'publish', 1, '党费收缴情况（2025年下半年）', '应缴 100%，实缴 100%。', '', 13, 1, 'party', '2025-H2', NULL, '2026-12-04 18:44:37.420840', '2026-12-04 18:44:37.000000', NULL, NULL, 1, '党费收缴情况（2025年下半年）', '党费收缴情况（2025年下半年）
应缴 100%，实缴 100%。');
INSERT INTO disclosures (id, author_id, public_state, work_state, work_action, work_author_id, title, body, reason, category_id, unit_id, scope, period_key, scheduled_at, created_at, published_at, revised_at, retracted_at, revision_count, public_title, search_text) VALUES (5, 1, 'published', 'none', 'publish', 1, '2024年度财务决算', '决算报告见附件。', '', 2, 1, 'everyone', '2024', NULL, '2026-12-04 18:44:37.427362', '2025-03-31 02:00:00.000000', NULL, NULL, 1, '2024年度财务决算', '2024年度财务决算
决算报告见附件。');
INSERT INTO disclosures (id, author_id, public_state, work_state, work_action, work_author_id, title, body, reason, category_id, unit_id, scope, period_key, scheduled_at, created_at, published_at, revised_at, retracted_at, revision_count, public_title, search_text) VALUES (6, 1, 'unpublished', 'in_review', 'publish', 1, '未发布的草稿', '尚在审核。', '', 3, 2, 'everyone', NULL, NULL, '2026-12-04 18:44:37.432113', NULL, NULL, NULL, 0, '', '');
INSERT INTO staff_roles (user_id, role) VALUES (1, 'publisher');
INSERT INTO staff_roles (user_id, role) VALUES (2, 'approver');
INSERT INTO disclosure_attachments (id, disclosure_id, filename, content_type, size, sha256, blob_key, uploaded_by_id, created_at, published) VALUES (1, 1, '报价明细 (final).pdf', 'application/pdf', 69, 'cfa3181c1ee36e8bce5e39f84959f4558ea7ba32c0e4539a8ab3c8ce8c716ec6', '525a27b1fabdf4284b9ffdaa2e95b603', 1, '2026-12-04 18:44:37.365085', TRUE);
INSERT INTO disclosure_attachments (id, disclosure_id, filename, content_type, size, sha256, blob_key, uploaded_by_id, created_at, published) VALUES (2, 2, '明细.csv', 'text/csv', 44, '0b252d7406a9b980524b3fa9225af68dc3f2db64c2194e29977e961519f263e7', '2cf3f1cac0099ebbe95eb8750a6dde70', 1, '2026-12-04 18:44:37.398059', TRUE);
INSERT INTO disclosure_revisions (id, disclosure_id, number, action, title, body, reason, category_code, unit_code, scope, period_key, published_at, attachments_json, author_id, approver_id, log_index, leaf_hash) VALUES (1, 1, 1, 'publish', '食堂承包招标结果公示 Canteen tender', '中标单位：**华北餐饮有限公司**。

公示期 5 个工作日；异议请书面提出。
引号 "quoted" 与反斜杠 \ 与 emoji 🍚 与 𠀀', '', 'procurement', 'MCH', 'everyone', NULL, '2026-12-04 18:44:37.000000', '[[1,"报价明细 (final).pdf","cfa3181c1ee36e8bce5e39f84959f4558ea7ba32c0e4539a8ab3c8ce8c716ec6"]]', 1, 2, 0, '2b37079f423568080d6d58f43eb9c8e727f91369c05dc9a03223664142254ea8');
INSERT INTO disclosure_revisions (id, disclosure_id, number, action, title, body, reason, category_code, unit_code, scope, period_key, published_at, attachments_json, author_id, approver_id, log_index, leaf_hash) VALUES (2, 2, 1, 'publish', '2025年度职工福利费使用情况', '| 项目 | 金额（万元） |
| --- | --- |
| 节日慰问 | 12.5 |', '', 'pay-welfare', 'GRP', 'everyone', '2025', '2026-12-04 18:44:37.000000', '[]', 1, 2, 1, '994b54fe9eabc8a4b47197e9cc392c6f3f2d83aface8153804ecbc4fde08d889');
INSERT INTO disclosure_revisions (id, disclosure_id, number, action, title, body, reason, category_code, unit_code, scope, period_key, published_at, attachments_json, author_id, approver_id, log_index, leaf_hash) VALUES (3, 2, 2, 'amend', '2025年度职工福利费使用情况', '| 项目 | 金额（万元） |
| --- | --- |
| 节日慰问 | 12.5 |
| 困难补助 | 3.2 |', '补充明细表。', 'pay-welfare', 'GRP', 'everyone', '2025', '2026-12-04 18:44:37.000000', '[[2,"明细.csv","0b252d7406a9b980524b3fa9225af68dc3f2db64c2194e29977e961519f263e7"]]', 1, 2, 2, 'b3c6b88a508da8fa7fc38559b927ff33adbcf2833dfd536ce41e3be3e94b5c9b');
INSERT INTO disclosure_revisions (id, disclosure_id, number, action, title, body, reason, category_code, unit_code, scope, period_key, published_at, attachments_json, author_id, approver_id, log_index, leaf_hash) VALUES (4, 3, 1, 'publish', 'Safety drill notice 安全演练通知', 'All workshops, 9:00.', '', 'work-safety', 'MCH', 'everyone', NULL, '2026-12-04 18:44:37.000000', '[]', 1, 2, 3, 'de2471763ffd78d7051a0f39768aca7866caf3832d4f6ab0bc3d2bccd451b67d');
INSERT INTO disclosure_revisions (id, disclosure_id, number, action, title, body, reason, category_code, unit_code, scope, period_key, published_at, attachments_json, author_id, approver_id, log_index, leaf_hash) VALUES (5, 3, 2, 'retract', 'Safety drill notice 安全演练通知', '', '日期有误，另行通知。', 'work-safety', 'MCH', 'everyone', NULL, '2026-12-04 18:44:37.000000', '[]', 1, 2, 4, 'b5398d67974718517602907b3739cbefec9c2d49f180e45cf28a16205f93c4f7');
INSERT INTO disclosure_revisions (id, disclosure_id, number, action, title, body, reason, category_code, unit_code, scope, period_key, published_at, attachments_json, author_id, approver_id, log_index, leaf_hash) VALUES (6, 4, 1, 'publish', '党费收缴情况（2025年下半年）', '应缴 100%，实缴 100%。', '', 'party-dues', 'GRP', 'party', '2025-H2', '2026-12-04 18:44:37.000000', '[]', 1, 2, 5, '9dee936ffc7721c2a8fa7b898c3a15bc821fb55aaafad9f97a46e24a40047844');
INSERT INTO disclosure_revisions (id, disclosure_id, number, action, title, body, reason, category_code, unit_code, scope, period_key, published_at, attachments_json, author_id, approver_id, log_index, leaf_hash) VALUES (7, 5, 1, 'publish', '2024年度财务决算', '决算报告见附件。', '', 'budget-accounts', 'GRP', 'everyone', '2024', '2025-03-31 02:00:00.000000', '[]', 1, 2, 6, '463f9cec50fb87bfc5fa67a2393f959f2fe7ff122c710d8e92b98b636acf6001');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (1, 1, 'created', 1, '', '2026-12-04 18:44:37.359373');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (2, 1, 'attachment added', 1, '报价明细 (final).pdf', '2026-12-04 18:44:37.365332');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (3, 1, 'submitted', 1, '', '2026-12-04 18:44:37.367959');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (4, 1, 'approved', 2, '', '2026-12-04 18:44:37.369811');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (5, 1, 'published', 2, '', '2026-12-04 18:44:37.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (6, 2, 'created', 1, '', '2026-12-04 18:44:37.385800');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (7, 2, 'submitted', 1, '', '2026-12-04 18:44:37.387372');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (8, 2, 'approved', 2, '', '2026-12-04 18:44:37.388319');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (9, 2, 'published', 2, '', '2026-12-04 18:44:37.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (10, 2, 'amendment started', 1, '补充明细表。', '2026-12-04 18:44:37.394293');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (11, 2, 'attachment added', 1, '明细.csv', '2026-12-04 18:44:37.398155');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (12, 2, 'submitted', 1, '', '2026-12-04 18:44:37.399074');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (13, 2, 'approved', 2, '', '2026-12-04 18:44:37.400023');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (14, 2, 'amended', 2, '', '2026-12-04 18:44:37.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (15, 3, 'created', 1, '', '2026-12-04 18:44:37.407501');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (16, 3, 'submitted', 1, '', '2026-12-04 18:44:37.408668');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (17, 3, 'approved', 2, '', '2026-12-04 18:44:37.409520');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (18, 3, 'published', 2, '', '2026-12-04 18:44:37.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (19, 3, 'retraction requested', 1, '日期有误，另行通知。', '2026-12-04 18:44:37.414518');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (20, 3, 'submitted', 1, '', '2026-12-04 18:44:37.414565');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (21, 3, 'approved', 2, '', '2026-12-04 18:44:37.416038');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (22, 3, 'retracted', 2, '', '2026-12-04 18:44:37.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (23, 4, 'created', 1, '', '2026-12-04 18:44:37.420360');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (24, 4, 'submitted', 1, '', '2026-12-04 18:44:37.421588');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (25, 4, 'approved', 2, '', '2026-12-04 18:44:37.422420');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (26, 4, 'published', 2, '', '2026-12-04 18:44:37.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (27, 5, 'imported', 1, '', '2025-03-31 02:00:00.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (28, 5, 'published', 2, '', '2025-03-31 02:00:00.000000');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (29, 6, 'created', 1, '', '2026-12-04 18:44:37.431750');
INSERT INTO disclosure_steps (id, disclosure_id, action, actor_id, comment, at) VALUES (30, 6, 'submitted', 1, '', '2026-12-04 18:44:37.433047');
