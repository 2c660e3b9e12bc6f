"""Message texts in zh-CN (first) and English, chosen per recipient.

Each template is a format string over named values; :func:`render` fills it and says which value
is missing rather than sending a message with a hole in it. SMS texts start with the centre's
signature ``【96333】`` as Chinese carriers require.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LANGS = ("zh-CN", "en")

TEMPLATES: dict[str, dict[str, str]] = {
    # to a fire_119 partner's duty phone on a level-3 handover (issue 14)
    "fire_handover": {
        "zh-CN": "【96333】三级救援请求：{address}（{building}，救援识别码{rescue_code}）电梯困人，"
                 "被困{trapped}人，有伤员：{injured}。报警电话{caller}。事件号{incident_id}，"
                 "请通过平台接口确认接警。",
        "en": "[96333] Level-3 rescue request: entrapment at {address} ({building}, rescue code "
              "{rescue_code}), {trapped} trapped, injured: {injured}. Caller {caller}. Incident "
              "{incident_id}: please acknowledge through the platform interface.",
    },
    # to the team: the offer (SMS), with the reply code and the crew page link
    "offer_sms": {
        "zh-CN": "【96333】电梯困人派单：{address}（救援识别码{rescue_code}），被困{trapped}人。"
                 "请在{accept_by}前接单：回复“1 {code}”接单，“2 {code}”拒绝。详情：{link}",
        "en": "[96333] Entrapment job: {address} (rescue code {rescue_code}), {trapped} trapped. "
              "Answer by {accept_by}: reply \"1 {code}\" to accept, \"2 {code}\" to decline. "
              "Details: {link}",
    },
    # to the team: the voice call when the SMS was not answered in time (read by <Say>)
    "offer_call": {
        "zh-CN": "这里是96333电梯应急救援中心。{address}，电梯困人，被困{trapped}人。"
                 "接单请按1，拒绝请按2。",
        "en": "This is the 96333 elevator rescue centre. People are trapped in the elevator at "
              "{address}, {trapped} trapped. Press 1 to accept, 2 to decline.",
    },
    # to the use unit when a team accepts
    "use_unit_notice": {
        "zh-CN": "【96333】电梯困人：{address}（救援识别码{rescue_code}）有人被困，"
                 "救援队伍已出发，预计{eta_min}分钟到达。请派人到场配合并安抚被困人员。",
        "en": "[96333] Elevator entrapment at {address} (rescue code {rescue_code}): a rescue "
              "team is on its way, expected in {eta_min} min. Please send someone to meet it "
              "and reassure the people trapped.",
    },
    # to the level-1 (contracted) maintenance company when a level-2 team takes over
    "level1_notice": {
        "zh-CN": "【96333】贵单位维保的电梯（{address}，救援识别码{rescue_code}）发生困人，"
                 "因未能及时响应，已由{taken_over_by}进行二级救援。",
        "en": "[96333] Entrapment in an elevator you maintain ({address}, rescue code "
              "{rescue_code}): as you could not respond in time, {taken_over_by} has taken "
              "over (level 2).",
    },
    # to a team taken off a job it was offered or had accepted (another team, or it ended)
    "offer_withdrawn": {
        "zh-CN": "【96333】任务已撤回：{address}（救援识别码{rescue_code}）的派单（编号{code}）"
                 "已取消，原因：{reason}。无需前往，谢谢。",
        "en": "[96333] Job withdrawn: the job at {address} (rescue code {rescue_code}, number "
              "{code}) is cancelled: {reason}. No need to go, thank you.",
    },
    # to the caller: a team is on the way
    "caller_status": {
        "zh-CN": "【96333】您报告的电梯困人求助已受理，救援队伍已出发，预计{eta_min}分钟到达。"
                 "请保持冷静，不要扒门或强行离开轿厢。",
        "en": "[96333] Your call about the trapped elevator was received: a rescue team is on "
              "its way, expected in {eta_min} min. Stay calm and do not force the doors.",
    },
    # to the insurer of an insured elevator when the incident records an injury
    "insurer_notice": {
        "zh-CN": "【96333】投保电梯困人事件有人员受伤：{address}（注册代码{register_code}），"
                 "保单号{policy_no}，事件编号{incident_id}，接警时间{received_at}。",
        "en": "[96333] Injury in an entrapment in an insured elevator: {address} (register "
              "code {register_code}), policy {policy_no}, incident {incident_id}, reported "
              "{received_at}.",
    },
    # answers to a team's SMS reply
    "reply_accepted": {
        "zh-CN": "【96333】已确认接单（编号{code}）：{address}。请尽快出发。",
        "en": "[96333] Accepted (job {code}): {address}. Please set off now.",
    },
    "reply_declined": {
        "zh-CN": "【96333】已记录拒绝（编号{code}），任务将改派其他队伍。",
        "en": "[96333] Declined (job {code}); the job goes to another team.",
    },
    "reply_bad_code": {
        "zh-CN": "【96333】未找到编号为{code}的待接派单。请回复“1 编号”接单或“2 编号”拒绝，"
                 "编号见派单短信。",
        "en": "[96333] No open job {code} for this phone. Reply \"1 <job>\" to accept or "
              "\"2 <job>\" to decline; the job number is in the offer SMS.",
    },
    "reply_not_open": {
        "zh-CN": "【96333】派单{code}已不能{action}（当前状态：{state}）。",
        "en": "[96333] Job {code} can no longer be {action_en} (now {state}).",
    },
    "reply_help": {
        "zh-CN": "【96333】无法识别的回复。请回复“1 编号”接单或“2 编号”拒绝。",
        "en": "[96333] Reply not understood. Reply \"1 <job>\" to accept or \"2 <job>\" to "
              "decline.",
    },
    # hotline IVR prompts (read by <Say>)
    "ivr_welcome": {
        "zh-CN": "您好，这里是96333电梯应急救援中心。请输入轿厢内标识牌上的救援识别码，"
                 "以井号键结束。人工服务请按0。",
        "en": "This is the 96333 elevator rescue centre. Enter the rescue code on the sign in "
              "the car, then press hash. For an operator, press 0.",
    },
    "ivr_readback": {
        "zh-CN": "您所在的电梯位于{address}。确认请按1，重新输入请按2，人工服务请按0。",
        "en": "Your elevator is at {address}. Press 1 to confirm, 2 to enter the code again, "
              "0 for an operator.",
    },
    "ivr_created": {
        "zh-CN": "已收到您的求助，救援队伍正在调派。请保持冷静，不要扒门，"
                 "我们会尽快与您联系。",
        "en": "Your call is registered and a rescue team is being dispatched. Stay calm, do "
              "not force the doors; we will contact you shortly.",
    },
    "ivr_unknown_code": {
        "zh-CN": "未找到救援识别码{code}。",
        "en": "Rescue code {code} was not found.",
    },
    "ivr_operator": {
        "zh-CN": "正在为您转接人工坐席，请稍候。",
        "en": "Connecting you to an operator, please hold.",
    },
    "ivr_no_operator": {
        "zh-CN": "人工坐席暂时无法接通，请挂机后重新拨打96333。",
        "en": "No operator is available right now; please hang up and call 96333 again.",
    },
    "ivr_no_input": {
        "zh-CN": "未收到按键，再见。",
        "en": "No key was pressed. Goodbye.",
    },
    "call_accepted": {
        "zh-CN": "已确认接单，请尽快出发。再见。",
        "en": "Accepted. Please set off now. Goodbye.",
    },
    "call_declined": {
        "zh-CN": "已记录拒绝，任务将改派其他队伍。再见。",
        "en": "Declined; the job goes to another team. Goodbye.",
    },
    "call_not_open": {
        "zh-CN": "该派单已处理，无需操作。再见。",
        "en": "This job has already been handled. Goodbye.",
    },
}


class MissingValue(KeyError):
    pass


def pick_lang(lang: str | None) -> str:
    """``zh``, ``zh-CN``, ``zh_Hans`` → ``zh-CN``; ``en…`` → ``en``; otherwise Chinese first."""
    if lang and lang.lower().startswith("en"):
        return "en"
    return "zh-CN"


def render(template: str, lang: str | None, values: Mapping[str, Any]) -> str:
    """The text of ``template`` in the recipient's language, filled from ``values``."""
    texts = TEMPLATES[template]
    try:
        return texts[pick_lang(lang)].format_map(dict(values))
    except KeyError as exc:
        raise MissingValue(f"template {template!r} needs {exc.args[0]!r}") from None
