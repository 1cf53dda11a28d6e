.code16
start:
  cli
  xor %ax,%ax
  mov %ax,%ds
  mov %ax,%ss
  mov $0x7000,%sp
  lgdt 0x7c00+gdt_desc
  mov %cr0,%eax
  or $1,%eax
  mov %eax,%cr0
  ljmp $0x08,$0x7c00+pm
.code32
pm:
  mov $0x10,%ax
  mov %ax,%ds
  mov %ax,%ss
  mov $0x402,%dx
  mov $'P',%al
  out %al,%dx
  ljmp $0x18,$0x7c00+pm16
.code16
pm16:
  mov $0x20,%ax
  mov %ax,%ds
  mov %ax,%ss
  mov %cr0,%eax
  and $0xfffffffe,%eax
  mov %eax,%cr0
  ljmp $0x0,$0x7c00+rm
rm:
  xor %ax,%ax
  mov %ax,%ds
  mov %ax,%ss
  mov $0x7000,%sp
  sti
  mov $0x08,%ah
  mov $0x80,%dl
  int $0x13
  mov $0x402,%dx
  mov $'R',%al
  out %al,%dx
1: hlt
  jmp 1b
.align 8
gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF
  .quad 0x00CF92000000FFFF
  .quad 0x00009A000000FFFF
  .quad 0x000092000000FFFF
gdt_desc:
  .word 39
  .long 0x7c00+gdt
.org 510
.byte 0x55,0xaa
