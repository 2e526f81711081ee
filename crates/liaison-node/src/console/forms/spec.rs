//! What each kind of notice asks for on its form: the fields in order, with their Chinese and
//! English labels, their input, whether they are required, and help text. Field names are the
//! paths of the body's JSON members, so an error the core names by path lands beside its field.

use liaison_core::NoticeKind;

/// A choice between enum values: (JSON value, label).
pub(crate) type Choices = &'static [(&'static str, &'static str)];

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// One line of text, at most this many characters.
    Line(usize),
    /// Several lines of text.
    Lines,
    /// A calendar date (`<input type=date>`).
    Date,
    /// A resident identity number, checked as it is typed.
    IdNumber,
    /// One of several values; the first is the one that makes the fewest other fields required.
    Choice(Choices),
    /// Yes or no, to be chosen; neither is preset. Labels of yes and of no.
    YesNo(&'static str, &'static str),
    /// A box to tick; unticked means no.
    Tick,
    /// A whole number of yuan.
    Yuan,
}

/// One field of a form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The body member's path, e.g. `person.id_number`; also the form field's name.
    pub(crate) path: &'static str,
    pub(crate) zh: &'static str,
    pub(crate) en: &'static str,
    pub(crate) input: Input,
    /// Required for the body; a field of an optional person is required once the person is given.
    pub(crate) required: bool,
    /// An example or a rule, shown under the field.
    pub(crate) help: &'static str,
}

/// A part of a form: a single field, or a person (name, identity number, birth date).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Field(Field),
    Person {
        path: &'static str,
        zh: &'static str,
        en: &'static str,
        /// Left out when all its fields are left empty.
        optional: bool,
    },
}

pub(crate) const CASE_TYPES: Choices = &[
    ("pregnancy", "政策外怀孕 out-of-policy pregnancy"),
    ("birth", "政策外生育 out-of-policy birth"),
];
pub(crate) const CERTIFICATE_TYPES: Choices = &[
    (
        "marriage_and_childbearing",
        "婚育证明 marriage and childbearing certificate",
    ),
    ("only_child", "独生子女证 only-child certificate"),
    (
        "first_child_service",
        "一孩生育服务证 first-child service certificate",
    ),
    (
        "second_child_permit",
        "二孩准生证 second-child birth permit",
    ),
];
pub(crate) const FEE_OPINIONS: Choices = &[
    ("agree", "同意 agree"),
    ("already_levied", "已征收 already levied here"),
    ("disagree", "不同意 disagree"),
];
pub(crate) const METHODS: Choices = &[
    ("iud", "宫内节育器 IUD"),
    ("sterilization", "绝育术 sterilization"),
    ("implant", "皮下埋植 implant"),
    ("pills", "口服避孕药 pills"),
    ("condom", "避孕套 condom"),
    ("other", "其他 other"),
    ("none", "未采取措施 none"),
];
pub(crate) const TOPICS: Choices = &[
    ("work_information", "工作信息通报 work information"),
    (
        "service_statistics",
        "服务管理基础信息通报 service-management data",
    ),
    ("sex_ratio_case", "出生性别比案件查处 sex-ratio case"),
    ("emergency", "突发事件 emergency"),
    ("policy_change", "政策协调通报 policy change"),
    ("other", "其他 other"),
];

/// The fields of a person under `path`.
pub(crate) fn person_fields(path: &str) -> [(String, Field); 3] {
    let field = |name: &'static str, zh, en, input, required, help| {
        (
            format!("{path}.{name}"),
            Field {
                path: name,
                zh,
                en,
                input,
                required,
                help,
            },
        )
    };
    [
        field(
            "name",
            "姓名",
            "Name",
            Input::Line(liaison_core::body::NAME_MAX_CHARS),
            true,
            "",
        ),
        field(
            "id_number",
            "身份号码",
            "Identity number",
            Input::IdNumber,
            true,
            "18位:6位地区码、8位出生日期、3位顺序码、1位校验位(数字或X)",
        ),
        field(
            "birth_date",
            "出生日期",
            "Birth date",
            Input::Date,
            false,
            "可不填;填写时须与身份号码一致",
        ),
    ]
}

const SHORT: usize = liaison_core::body::SHORT_TEXT_MAX_CHARS;

const fn field(
    path: &'static str,
    zh: &'static str,
    en: &'static str,
    input: Input,
    required: bool,
    help: &'static str,
) -> Part {
    Part::Field(Field {
        path,
        zh,
        en,
        input,
        required,
        help,
    })
}

const fn person(path: &'static str, zh: &'static str, en: &'static str, optional: bool) -> Part {
    Part::Person {
        path,
        zh,
        en,
        optional,
    }
}

/// The kinds an operator writes on a form; a reminder (催办) is sent from the due board.
pub(crate) fn has_form(kind: NoticeKind) -> bool {
    kind != NoticeKind::Reminder
}

/// The parts of the form for `kind`, in the order of the letter.
pub(crate) fn parts(kind: NoticeKind) -> Vec<Part> {
    match kind {
        NoticeKind::CaseNotice => vec![
            field(
                "case_type",
                "个案类别",
                "Case",
                Input::Choice(CASE_TYPES),
                true,
                "",
            ),
            person("person", "当事人", "Person", false),
            person("spouse", "配偶", "Spouse", true),
            field(
                "event_date",
                "怀孕发现或生育日期",
                "Date of the finding or birth",
                Input::Date,
                true,
                "",
            ),
            field(
                "residence_address",
                "现居住地地址",
                "Address at residence",
                Input::Line(SHORT),
                false,
                "例:延安市宝塔区南关街12号",
            ),
            field(
                "registration_address",
                "户籍所在地地址",
                "Address at registration",
                Input::Line(SHORT),
                false,
                "例:延安市安塞区真武洞镇",
            ),
            field(
                "details",
                "情况说明",
                "Details",
                Input::Lines,
                false,
                "对方县区处理所需的其他情况",
            ),
        ],
        NoticeKind::CertificateQuery => vec![
            field(
                "certificate_type",
                "证件种类",
                "Certificate",
                Input::Choice(CERTIFICATE_TYPES),
                true,
                "",
            ),
            person("person", "持证人", "Holder", false),
            field(
                "certificate_number",
                "证件编号",
                "Certificate number",
                Input::Line(SHORT),
                false,
                "知道时填写。例:宝计生字2023第0157号",
            ),
            field(
                "question",
                "查询事项",
                "Question",
                Input::Lines,
                false,
                "除证件是否存在、是否有效外还需了解的情况",
            ),
        ],
        NoticeKind::CertificateAnswer => vec![
            field(
                "found",
                "查询结果",
                "Found",
                Input::YesNo("查到 found", "未查到 not found"),
                true,
                "",
            ),
            field(
                "certificate_number",
                "证件编号",
                "Certificate number",
                Input::Line(SHORT),
                false,
                "查到时填写",
            ),
            field(
                "issued_on",
                "发证日期",
                "Issued on",
                Input::Date,
                false,
                "查到时填写",
            ),
            field(
                "valid_until",
                "有效期至",
                "Valid until",
                Input::Date,
                false,
                "有期限时填写",
            ),
            field("answer", "答复", "Answer", Input::Lines, true, ""),
        ],
        NoticeKind::FeeConsultation => vec![
            person("person", "当事人", "Person", false),
            field(
                "birth_date",
                "政策外生育日期",
                "Date of the birth",
                Input::Date,
                true,
                "",
            ),
            field(
                "proposed_amount_yuan",
                "拟征收金额(元)",
                "Proposed fee (yuan)",
                Input::Yuan,
                true,
                "整数,1至10000000元",
            ),
            field(
                "reasons",
                "征收理由及计算依据",
                "Reasons and reckoning",
                Input::Lines,
                true,
                "",
            ),
            field(
                "delegate_collection",
                "委托对方继续征收",
                "Ask the other county to continue collecting",
                Input::Tick,
                false,
                "",
            ),
        ],
        NoticeKind::FeeReply => vec![
            field(
                "opinion",
                "意见",
                "Opinion",
                Input::Choice(FEE_OPINIONS),
                true,
                "",
            ),
            field(
                "comments",
                "说明",
                "Comments",
                Input::Lines,
                false,
                "不同意时必填",
            ),
            field(
                "accept_delegation",
                "接受委托继续征收",
                "Accept to continue collecting",
                Input::Tick,
                false,
                "",
            ),
        ],
        NoticeKind::ApprovalRequest => vec![
            person("applicant", "申请人", "Applicant", false),
            person("spouse", "配偶", "Spouse", true),
            field(
                "certificate_type",
                "申请事项",
                "Applied for",
                Input::Choice(CERTIFICATE_TYPES),
                true,
                "",
            ),
            field(
                "application_date",
                "申请日期",
                "Application date",
                Input::Date,
                true,
                "",
            ),
            field("details", "情况说明", "Details", Input::Lines, false, ""),
        ],
        NoticeKind::ApprovalResult => vec![
            person("applicant", "申请人", "Applicant", false),
            field(
                "approved",
                "审批结果",
                "Decision",
                Input::YesNo("批准 approved", "不批准 refused"),
                true,
                "",
            ),
            field(
                "decision_date",
                "审批日期",
                "Decision date",
                Input::Date,
                true,
                "",
            ),
            field(
                "certificate_number",
                "所发证件编号",
                "Certificate number",
                Input::Line(SHORT),
                false,
                "批准时填写",
            ),
            field(
                "reasons",
                "理由",
                "Reasons",
                Input::Lines,
                false,
                "不批准时必填",
            ),
        ],
        NoticeKind::ContraceptionReport => vec![
            person("person", "受检人", "Person checked", false),
            field(
                "check_date",
                "查验日期",
                "Check-up date",
                Input::Date,
                true,
                "",
            ),
            field(
                "method",
                "避孕节育措施",
                "Contraceptive method",
                Input::Choice(METHODS),
                true,
                "",
            ),
            field(
                "pregnant",
                "是否怀孕",
                "Pregnant",
                Input::YesNo("已怀孕 pregnant", "未怀孕 not pregnant"),
                true,
                "",
            ),
            field(
                "findings",
                "其他查验情况",
                "Findings",
                Input::Lines,
                false,
                "",
            ),
        ],
        NoticeKind::Bulletin => vec![
            field(
                "topic",
                "通报类别",
                "Topic",
                Input::Choice(TOPICS),
                true,
                "",
            ),
            field(
                "title",
                "标题",
                "Title",
                Input::Line(SHORT),
                true,
                "例:2024年第二季度流动人口信息交换情况",
            ),
            field("text", "正文", "Text", Input::Lines, true, ""),
        ],
        NoticeKind::ContactLetter => vec![
            field(
                "subject",
                "事由",
                "Subject",
                Input::Line(SHORT),
                true,
                "例:请协助核实户籍登记情况",
            ),
            field("text", "正文", "Text", Input::Lines, true, ""),
            person("person", "所涉人员", "Person concerned", true),
        ],
        NoticeKind::ReplyLetter => vec![field(
            "text",
            "复函内容",
            "Reply",
            Input::Lines,
            true,
            "核实结果及处理意见",
        )],
        NoticeKind::Reminder => Vec::new(),
    }
}

/// Every form field of `kind` as (name, field), persons expanded, in order.
pub(crate) fn fields(kind: NoticeKind) -> Vec<(String, Field, Option<&'static str>)> {
    let mut out = Vec::new();
    for part in parts(kind) {
        match part {
            Part::Field(f) => out.push((f.path.to_owned(), f, None)),
            Part::Person { path, .. } => {
                for (name, f) in person_fields(path) {
                    out.push((name, f, Some(path)));
                }
            }
        }
    }
    out
}

/// The label of a choice's value, or the value itself if the choice has no such value.
pub(crate) fn choice_label(choices: Choices, value: &str) -> String {
    choices
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| value.to_owned(), |(_, label)| (*label).to_owned())
}
